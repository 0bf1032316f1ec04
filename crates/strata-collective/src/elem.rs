//! Element types and reduction operators.

/// How values from different ranks combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Elementwise sum (wrapping for integers).
    Sum,
    /// Elementwise product (wrapping for integers).
    Prod,
    /// Elementwise maximum.
    Max,
    /// Elementwise minimum.
    Min,
}

/// A type a collective can carry: plain old data, reducible.
pub trait Elem: bytemuck::Pod + Send + Sync + std::fmt::Debug + PartialOrd {
    /// The type's name, for mismatch reports.
    const NAME: &'static str;
    /// `a op b`.
    fn combine(op: ReduceOp, a: Self, b: Self) -> Self;
}

macro_rules! float_elem {
    ($t:ty) => {
        impl Elem for $t {
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn combine(op: ReduceOp, a: Self, b: Self) -> Self {
                match op {
                    ReduceOp::Sum => a + b,
                    ReduceOp::Prod => a * b,
                    ReduceOp::Max => a.max(b),
                    ReduceOp::Min => a.min(b),
                }
            }
        }
    };
}

macro_rules! int_elem {
    ($t:ty) => {
        impl Elem for $t {
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn combine(op: ReduceOp, a: Self, b: Self) -> Self {
                match op {
                    ReduceOp::Sum => a.wrapping_add(b),
                    ReduceOp::Prod => a.wrapping_mul(b),
                    ReduceOp::Max => a.max(b),
                    ReduceOp::Min => a.min(b),
                }
            }
        }
    };
}

float_elem!(f32);
float_elem!(f64);
int_elem!(i32);
int_elem!(i64);
int_elem!(u32);
int_elem!(u64);
int_elem!(u8);

/// `acc[i] = acc[i] op other[i]`, in index order (so a fixed sequence of reductions gives
/// the same bits on every run).
pub fn reduce_into<T: Elem>(op: ReduceOp, acc: &mut [T], other: &[T]) {
    debug_assert_eq!(acc.len(), other.len());
    match op {
        // The common case in a shape the compiler vectorises.
        ReduceOp::Sum => {
            for (a, b) in acc.iter_mut().zip(other) {
                *a = T::combine(ReduceOp::Sum, *a, *b);
            }
        }
        _ => {
            for (a, b) in acc.iter_mut().zip(other) {
                *a = T::combine(op, *a, *b);
            }
        }
    }
}

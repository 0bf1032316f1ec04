//! The operator contract of a pipeline, and the stateless operators.
//!
//! Operators inside one task are chained: each holds the next one and pushes records into
//! it by a direct call (Flink's operator chaining), so a record crosses a thread or process
//! boundary only at an exchange. Control signals — watermarks, idleness, processing-time
//! ticks, checkpoint barriers, end of input — travel the same path through [`Control`].

use crate::error::Result;
use crate::time::Ts;

/// Values a stream carries.
pub trait Data: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> Data for T {}

/// A value and its event time.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// Event time in milliseconds.
    pub ts: Ts,
    /// The value.
    pub value: T,
}

/// A file a two-phase-commit sink wrote for a checkpoint: made visible (copied to
/// `target`, `staged` removed) only once the checkpoint completes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingFile {
    /// Where the data waits (a hidden path under the output directory).
    pub staged: String,
    /// Where it becomes visible.
    pub target: String,
}

/// What a task's operators contribute to a checkpoint.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Operator state by operator id.
    pub states: Vec<(String, Vec<u8>)>,
    /// Sink files to commit when the checkpoint completes.
    pub pending: Vec<PendingFile>,
    /// New shared state files (name, bytes): written once, referenced by later
    /// checkpoints too.
    pub files: Vec<(String, Vec<u8>)>,
    /// Every shared state file this snapshot's state needs (new or earlier).
    pub refs: Vec<String>,
}

/// The signals every operator passes on after acting on them.
pub trait Control: Send {
    /// Event time has reached `wm`: no record older than it is still expected.
    fn watermark(&mut self, wm: Ts) -> Result<()>;
    /// Every input of the task is idle.
    fn idle(&mut self) -> Result<()>;
    /// Processing time is `now` (called periodically).
    fn tick(&mut self, now: Ts) -> Result<()>;
    /// Checkpoint `cp`'s barrier: record state into `snap`, then pass the barrier on.
    fn snapshot(&mut self, cp: u64, snap: &mut Snapshot) -> Result<()>;
    /// End of input (after the final checkpoint): flush and pass on.
    fn finish(&mut self) -> Result<()>;
}

/// A chained operator taking records of type `T`.
pub trait Operator<T>: Control {
    /// One record.
    fn process(&mut self, rec: Record<T>) -> Result<()>;
}

/// Implements [`Control`] by passing every signal to `self.$next`.
macro_rules! forward_control {
    ($next:ident) => {
        fn watermark(&mut self, wm: $crate::time::Ts) -> $crate::error::Result<()> {
            self.$next.watermark(wm)
        }
        fn idle(&mut self) -> $crate::error::Result<()> {
            self.$next.idle()
        }
        fn tick(&mut self, now: $crate::time::Ts) -> $crate::error::Result<()> {
            self.$next.tick(now)
        }
        fn snapshot(
            &mut self,
            cp: u64,
            snap: &mut $crate::operator::Snapshot,
        ) -> $crate::error::Result<()> {
            self.$next.snapshot(cp, snap)
        }
        fn finish(&mut self) -> $crate::error::Result<()> {
            self.$next.finish()
        }
    };
}
#[allow(unused_imports)]
pub(crate) use forward_control;

/// `map`.
pub(crate) struct MapOp<T, U> {
    pub(crate) f: std::sync::Arc<dyn Fn(T) -> U + Send + Sync>,
    pub(crate) next: Box<dyn Operator<U>>,
}

impl<T: Data, U: Data> Control for MapOp<T, U> {
    forward_control!(next);
}

impl<T: Data, U: Data> Operator<T> for MapOp<T, U> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        let value = (self.f)(rec.value);
        self.next.process(Record { ts: rec.ts, value })
    }
}

/// `filter`.
pub(crate) struct FilterOp<T> {
    pub(crate) f: std::sync::Arc<dyn Fn(&T) -> bool + Send + Sync>,
    pub(crate) next: Box<dyn Operator<T>>,
}

impl<T: Data> Control for FilterOp<T> {
    forward_control!(next);
}

impl<T: Data> Operator<T> for FilterOp<T> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        if (self.f)(&rec.value) {
            self.next.process(rec)
        } else {
            Ok(())
        }
    }
}

/// `flat_map`.
pub(crate) struct FlatMapOp<T, U> {
    pub(crate) f: std::sync::Arc<dyn Fn(T) -> Vec<U> + Send + Sync>,
    pub(crate) next: Box<dyn Operator<U>>,
}

impl<T: Data, U: Data> Control for FlatMapOp<T, U> {
    forward_control!(next);
}

impl<T: Data, U: Data> Operator<T> for FlatMapOp<T, U> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        for value in (self.f)(rec.value) {
            self.next.process(Record { ts: rec.ts, value })?;
        }
        Ok(())
    }
}

/// Re-stamps records with a new event time.
pub(crate) struct StampOp<T> {
    pub(crate) f: std::sync::Arc<dyn Fn(&T) -> Ts + Send + Sync>,
    pub(crate) next: Box<dyn Operator<T>>,
}

impl<T: Data> Control for StampOp<T> {
    forward_control!(next);
}

impl<T: Data> Operator<T> for StampOp<T> {
    fn process(&mut self, mut rec: Record<T>) -> Result<()> {
        rec.ts = (self.f)(&rec.value);
        self.next.process(rec)
    }
}

/// One stream read by several consumers: every record and signal goes to each.
pub(crate) struct Tee<T> {
    pub(crate) outs: Vec<Box<dyn Operator<T>>>,
}

impl<T: Data> Control for Tee<T> {
    fn watermark(&mut self, wm: Ts) -> Result<()> {
        self.outs.iter_mut().try_for_each(|o| o.watermark(wm))
    }
    fn idle(&mut self) -> Result<()> {
        self.outs.iter_mut().try_for_each(|o| o.idle())
    }
    fn tick(&mut self, now: Ts) -> Result<()> {
        self.outs.iter_mut().try_for_each(|o| o.tick(now))
    }
    fn snapshot(&mut self, cp: u64, snap: &mut Snapshot) -> Result<()> {
        self.outs.iter_mut().try_for_each(|o| o.snapshot(cp, snap))
    }
    fn finish(&mut self) -> Result<()> {
        self.outs.iter_mut().try_for_each(|o| o.finish())
    }
}

impl<T: Data> Operator<T> for Tee<T> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        if let Some((last, rest)) = self.outs.split_last_mut() {
            for o in rest {
                o.process(rec.clone())?;
            }
            last.process(rec)?;
        }
        Ok(())
    }
}

/// The end of a stream nobody consumes.
pub(crate) struct Discard;

/// Implements [`Control`] for an operator with nothing downstream and no state: every
/// signal is accepted and dropped.
macro_rules! end_of_chain_control {
    () => {
        fn watermark(&mut self, _: $crate::time::Ts) -> $crate::error::Result<()> {
            Ok(())
        }
        fn idle(&mut self) -> $crate::error::Result<()> {
            Ok(())
        }
        fn tick(&mut self, _: $crate::time::Ts) -> $crate::error::Result<()> {
            Ok(())
        }
        fn snapshot(
            &mut self,
            _: u64,
            _: &mut $crate::operator::Snapshot,
        ) -> $crate::error::Result<()> {
            Ok(())
        }
        fn finish(&mut self) -> $crate::error::Result<()> {
            Ok(())
        }
    };
}
pub(crate) use end_of_chain_control;

impl Control for Discard {
    end_of_chain_control!();
}

impl<T: Data> Operator<T> for Discard {
    fn process(&mut self, _: Record<T>) -> Result<()> {
        Ok(())
    }
}

/// One output from the operators a node's consumers built: a [`Tee`] for several, a
/// [`Discard`] for none.
pub(crate) fn fan_out<T: Data>(mut outs: Vec<Box<dyn Operator<T>>>) -> Box<dyn Operator<T>> {
    match outs.len() {
        0 => Box::new(Discard),
        1 => outs.pop().expect("one"),
        _ => Box::new(Tee { outs }),
    }
}

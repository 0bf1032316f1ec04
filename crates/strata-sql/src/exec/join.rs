//! Hash join. The right input is the build side: drained in parallel, concatenated (column
//! by column in parallel) and indexed by key in parallel ([`KeyIndex`]: partitioned maps)
//! into one table that all left (probe) partitions share; the probe side streams through
//! it. A NULL key never matches. A residual predicate is evaluated on the candidate
//! pairs. Left/full joins emit unmatched probe rows with NULLs; right/full joins mark the
//! build rows that matched and, when the last probe partition ends, emit the others.
//!
//! When the build side passes the memory budget, both sides are partitioned by key hash
//! into spill buckets ([`spill::Buckets`]) and joined bucket by bucket (grace hash join).

use super::join_index::KeyIndex;
use super::{Ctx, Stream, once, spill};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use crate::plan::JoinKind;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use strata_runtime::Reservation;

/// The two inputs of a join with their schemas.
pub struct Sides<'a> {
    /// Probe partitions.
    pub left: Vec<Stream<'a>>,
    /// Its schema.
    pub left_schema: SchemaRef,
    /// Build partitions.
    pub right: Vec<Stream<'a>>,
    /// Its schema.
    pub right_schema: SchemaRef,
}

/// What a join needs besides its inputs.
struct Spec<'a> {
    kind: JoinKind,
    on: &'a [(Expr, Expr)],
    filter: Option<&'a Expr>,
    left_schema: SchemaRef,
    right_schema: SchemaRef,
    out_schema: SchemaRef,
    pairs_schema: SchemaRef,
    /// NOT IN against a non-empty set: a left row with a NULL key never passes.
    drop_null_left: bool,
    /// The query's cancel flag, checked per probe slice.
    cancel: super::Cancel,
}

/// The most candidate pairs one probe step forms (on average): a probe batch is joined in
/// slices of rows so that slice × build rows per key stays under this. A join without
/// real keys (a nested loop: every build row is a candidate) thus keeps memory bounded
/// and checks the cancel flag often.
const MAX_PAIRS: usize = 1 << 20;

#[allow(clippy::too_many_arguments)]
pub fn hash_join<'a>(
    ctx: &'a Ctx,
    id: usize,
    sides: Sides<'a>,
    kind: JoinKind,
    on: &'a [(Expr, Expr)],
    filter: Option<&'a Expr>,
    out_schema: SchemaRef,
) -> Result<Vec<Stream<'a>>> {
    let mut spec = Spec {
        kind,
        on,
        filter,
        pairs_schema: pair_schema(&sides.left_schema, &sides.right_schema),
        left_schema: sides.left_schema,
        right_schema: sides.right_schema,
        out_schema,
        drop_null_left: false,
        cancel: ctx.opts.cancel.clone(),
    };
    let m = ctx.metrics.op(id);
    // Drain the build side, switching to buckets when it passes the budget.
    let right_keys: Vec<Expr> = on.iter().map(|(_, r)| r.clone()).collect();
    let buckets = spill::Buckets::new(ctx, m, spec.right_schema.clone(), right_keys);
    let (build_rows, build_null) = (AtomicUsize::new(0), AtomicBool::new(false));
    let held = buckets.hold_or_spill(sides.right, true, |b| {
        // Filtered string views pin whole pages; the table keeps only its own rows.
        let b = spill::compact(&b)?;
        if kind == JoinKind::NullAwareAnti {
            build_rows.fetch_add(b.num_rows(), Relaxed);
            for (_, r) in on {
                if r.eval(&b)?.into_array(b.num_rows())?.null_count() > 0 {
                    build_null.store(true, Relaxed);
                }
            }
        }
        Ok(b)
    })?;
    if kind == JoinKind::NullAwareAnti {
        if build_null.load(Relaxed) {
            // `x NOT IN (..., NULL, ...)` is never true.
            return Ok(Vec::new());
        }
        if build_rows.load(Relaxed) == 0 {
            // Against an empty set, NOT IN is true for every row, NULL keys included.
            return Ok(sides.left);
        }
        // Otherwise an anti join that also drops NULL left keys.
        spec.drop_null_left = true;
    }
    let spec = Arc::new(spec);
    let Some(spill::Held {
        batches: build,
        reservation,
    }) = held
    else {
        let right = buckets.finish()?;
        let left_keys: Vec<Expr> = on.iter().map(|(l, _)| l.clone()).collect();
        let lb = spill::Buckets::new(ctx, m, spec.left_schema.clone(), left_keys);
        ctx.par_map(sides.left, |s| {
            for b in s {
                lb.add(&b?)?;
            }
            Ok(())
        })?;
        let left = lb.finish()?;
        return Ok(left
            .into_iter()
            .zip(right)
            .filter(|(l, r)| l.is_some() || (r.is_some() && preserves_right(kind)))
            .map(|(l, r)| -> Stream<'a> {
                let spec = spec.clone();
                Box::new(
                    std::iter::once(())
                        .map(move |_| -> Result<Vec<RecordBatch>> {
                            let build = spill::load(&r)?;
                            let probe = spill::load(&l)?;
                            in_memory(ctx, &spec, build, vec![once(probe)], None)?
                                .into_iter()
                                .flatten()
                                .collect()
                        })
                        .flat_map(|r| match r {
                            Ok(bs) => bs.into_iter().map(Ok).collect::<Vec<_>>(),
                            Err(e) => vec![Err(e)],
                        }),
                )
            })
            .collect());
    };
    // A semi/anti join whose preserved (left) side is the smaller one: index the left rows
    // and stream the right side past them, instead of building on the large side.
    if matches!(
        kind,
        JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti
    ) {
        let rows = |p: &[RecordBatch]| p.iter().map(|b| b.num_rows()).sum::<usize>();
        let left = super::collect(ctx, sides.left)?;
        if left.iter().map(|p| rows(p)).sum::<usize>() < rows(&build) {
            let left = left.into_iter().flatten().collect();
            return Ok(vec![once(reversed_semi(ctx, &spec, left, build)?)]);
        }
        let probe = left.into_iter().map(once).collect();
        return in_memory(ctx, &spec, build, probe, Some(reservation));
    }
    in_memory(ctx, &spec, build, sides.left, Some(reservation))
}

/// A join condition's value as booleans, or an error naming the condition.
fn boolean<'b>(a: &'b ArrayRef, cond: &Expr) -> Result<&'b BooleanArray> {
    a.as_boolean_opt().ok_or_else(|| {
        SqlError::Plan(format!(
            "join condition {cond} must be boolean, got {}",
            a.data_type()
        ))
    })
}

impl Spec<'_> {
    /// Unmarks `keep` for left rows with a NULL key, when NOT IN calls for it.
    fn drop_null_keys(&self, b: &RecordBatch, keep: &mut [bool]) -> Result<()> {
        if !self.drop_null_left {
            return Ok(());
        }
        for (l, _) in self.on {
            let key = l.eval(b)?.into_array(b.num_rows())?;
            for (i, k) in keep.iter_mut().enumerate() {
                if key.is_null(i) {
                    *k = false;
                }
            }
        }
        Ok(())
    }
}

impl Spec<'_> {
    /// The join keys of probe batch `b`.
    fn probe_keys(&self, b: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.on
            .iter()
            .map(|(l, _)| l.eval(b)?.into_array(b.num_rows()))
            .collect()
    }

    /// A semi or anti join without a residual condition: an existence test per probe row.
    fn exists_only(&self) -> bool {
        self.filter.is_none()
            && matches!(
                self.kind,
                JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti
            )
    }
}

fn preserves_right(kind: JoinKind) -> bool {
    matches!(kind, JoinKind::Right | JoinKind::Full)
}

/// Joins probe partitions against a build side held in memory (accounted for by
/// `reservation`, kept as long as the table).
fn in_memory<'a>(
    ctx: &Ctx,
    spec: &Arc<Spec<'a>>,
    build: Vec<RecordBatch>,
    probe: Vec<Stream<'a>>,
    reservation: Option<Reservation>,
) -> Result<Vec<Stream<'a>>> {
    let mut table = Table::build(ctx, spec, build)?;
    table._reservation = reservation;
    let table = Arc::new(table);
    let remaining = Arc::new(AtomicUsize::new(probe.len()));
    let mut out: Vec<Stream<'a>> = probe
        .into_iter()
        .map(|s| -> Stream<'a> {
            let (spec, table, remaining) = (spec.clone(), table.clone(), remaining.clone());
            let tail_table = table.clone();
            let tail_spec = spec.clone();
            let joined = s.flat_map(
                move |b| -> Box<dyn Iterator<Item = Result<RecordBatch>> + Send> {
                    match b {
                        Ok(b) => table.clone().probe_slices(spec.clone(), b),
                        Err(e) => Box::new(std::iter::once(Err(e))),
                    }
                },
            );
            // The last probe partition to finish emits the build rows nothing matched.
            let tail = std::iter::once(()).filter_map(move |_| {
                if remaining.fetch_sub(1, Relaxed) == 1 {
                    tail_table.unmatched(&tail_spec).transpose()
                } else {
                    None
                }
            });
            Box::new(
                joined
                    .chain(tail)
                    .filter(|b| !matches!(b, Ok(b) if b.num_rows() == 0)),
            )
        })
        .collect();
    if out.is_empty() {
        // No probe partitions: a right/full join still owes the whole build side.
        let (table, spec) = (table.clone(), spec.clone());
        out.push(Box::new(
            std::iter::once(()).filter_map(move |_| table.unmatched(&spec).transpose()),
        ));
    }
    Ok(out)
}

/// The build side of an in-memory join.
struct Table {
    batch: RecordBatch,
    index: KeyIndex,
    /// Per build row, whether some probe row matched it (right/full joins only).
    matched: Vec<AtomicBool>,
    /// Build rows per distinct key, rounded up: the pairs a probe row forms on average
    /// (all build rows for a join without real keys).
    fanout: usize,
    /// The build side's share of the memory pool.
    _reservation: Option<Reservation>,
}

/// `batches` as one batch, each column concatenated on its own thread.
fn concat(ctx: &Ctx, schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<RecordBatch> {
    if batches.len() == 1 {
        return Ok(batches.into_iter().next().expect("one batch"));
    }
    if schema.fields().is_empty() || batches.is_empty() {
        return Ok(concat_batches(schema, &batches)?);
    }
    let cols = ctx.par_map((0..schema.fields().len()).collect(), |c| {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
        Ok(arrow::compute::concat(&parts)?)
    })?;
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

impl Table {
    fn build(ctx: &Ctx, spec: &Spec, batches: Vec<RecordBatch>) -> Result<Table> {
        let batch = concat(ctx, &spec.right_schema, batches)?;
        let n = batch.num_rows();
        let right_keys: Vec<Expr> = spec.on.iter().map(|(_, r)| r.clone()).collect();
        let index = KeyIndex::build(ctx, &batch, &right_keys)?;
        let matched = if preserves_right(spec.kind) {
            (0..n).map(|_| AtomicBool::new(false)).collect()
        } else {
            Vec::new()
        };
        Ok(Table {
            fanout: n.div_ceil(index.distinct().max(1)).max(1),
            batch,
            index,
            matched,
            _reservation: None,
        })
    }

    /// Candidate pairs (probe row, build row) with equal keys.
    fn candidates(&self, spec: &Spec, b: &RecordBatch) -> Result<(Vec<u32>, Vec<u32>)> {
        let keys = self.index.probe_keys(&spec.probe_keys(b)?)?;
        let (mut pi, mut bi) = (Vec::new(), Vec::new());
        self.index.each_match(&keys, |i, j| {
            pi.push(i);
            bi.push(j);
            true
        });
        Ok((pi, bi))
    }

    /// The output for one probe batch, a slice of rows at a time (see [`MAX_PAIRS`]).
    fn probe_slices<'s>(
        self: Arc<Self>,
        spec: Arc<Spec<'s>>,
        b: RecordBatch,
    ) -> Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 's>
    where
        Self: 's,
    {
        let n = b.num_rows();
        // An existence test forms no pairs: no need to slice.
        let fanout = if spec.exists_only() { 1 } else { self.fanout };
        let step = (MAX_PAIRS / fanout).clamp(1, n.max(1));
        Box::new((0..n).step_by(step).map(move |at| {
            spec.cancel.check()?;
            self.probe(&spec, &b.slice(at, step.min(n - at)))
        }))
    }

    /// Per probe row, whether some build row has its key (NULL keys never match): what a
    /// semi or anti join without a residual condition needs, found without forming the
    /// pairs (a key held by thousands of build rows costs one lookup, not thousands).
    fn exists(&self, spec: &Spec, b: &RecordBatch) -> Result<Vec<bool>> {
        let keys = self.index.probe_keys(&spec.probe_keys(b)?)?;
        Ok(self.index.contains(&keys, b.num_rows()))
    }

    /// The output for one probe batch.
    fn probe(&self, spec: &Spec, b: &RecordBatch) -> Result<RecordBatch> {
        let n = b.num_rows();
        if spec.exists_only() {
            let want = spec.kind == JoinKind::Semi;
            let mut keep: Vec<bool> = self
                .exists(spec, b)?
                .into_iter()
                .map(|m| m == want)
                .collect();
            spec.drop_null_keys(b, &mut keep)?;
            let keep: BooleanArray = keep.into_iter().map(Some).collect();
            return Ok(arrow::compute::filter_record_batch(b, &keep)?);
        }
        let (pi, bi) = self.candidates(spec, b)?;
        let (mut pi, mut bi) = (UInt32Array::from(pi), UInt32Array::from(bi));
        let mut pairs = RecordBatch::try_new(
            spec.pairs_schema.clone(),
            take_pairs(b, &pi, &self.batch, &bi)?,
        )?;
        if let Some(f) = spec.filter {
            let m = f.eval(&pairs)?.into_array(pairs.num_rows())?;
            let m = boolean(&m, f)?;
            let m = crate::expr::null_as_false(m);
            pairs = arrow::compute::filter_record_batch(&pairs, &m)?;
            pi = arrow::compute::filter(&pi, &m)?.as_primitive().clone();
            bi = arrow::compute::filter(&bi, &m)?.as_primitive().clone();
        }
        if !self.matched.is_empty() {
            for j in bi.values().iter() {
                self.matched[*j as usize].store(true, Relaxed);
            }
        }
        let matched = || {
            let mut m = vec![false; n];
            for i in pi.values().iter() {
                m[*i as usize] = true;
            }
            m
        };
        Ok(match spec.kind {
            JoinKind::Inner | JoinKind::Right => {
                RecordBatch::try_new(spec.out_schema.clone(), pairs.columns().to_vec())?
            }
            JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti => {
                let want = spec.kind == JoinKind::Semi;
                let mut keep: Vec<bool> = matched().into_iter().map(|m| m == want).collect();
                spec.drop_null_keys(b, &mut keep)?;
                let keep: BooleanArray = keep.into_iter().map(Some).collect();
                arrow::compute::filter_record_batch(b, &keep)?
            }
            JoinKind::Left | JoinKind::Full => {
                let m = matched();
                let lonely: Vec<u32> = (0..n as u32).filter(|i| !m[*i as usize]).collect();
                let lonely = UInt32Array::from(lonely);
                let nulls = UInt32Array::new_null(lonely.len());
                let cols = take_pairs(b, &lonely, &self.batch, &nulls)?;
                let extra = RecordBatch::try_new(spec.out_schema.clone(), cols)?;
                let matched =
                    RecordBatch::try_new(spec.out_schema.clone(), pairs.columns().to_vec())?;
                concat_batches(&spec.out_schema, [&matched, &extra])?
            }
        })
    }

    /// Build rows no probe row matched, with NULL probe columns (right/full joins).
    fn unmatched(&self, spec: &Spec) -> Result<Option<RecordBatch>> {
        if self.matched.is_empty() {
            return Ok(None);
        }
        let lonely: Vec<u32> = (0..self.matched.len() as u32)
            .filter(|j| !self.matched[*j as usize].load(Relaxed))
            .collect();
        if lonely.is_empty() {
            return Ok(None);
        }
        let lonely = UInt32Array::from(lonely);
        let nulls = UInt32Array::new_null(lonely.len());
        let empty = RecordBatch::new_empty(spec.left_schema.clone());
        let cols = take_pairs(&empty, &nulls, &self.batch, &lonely)?;
        Ok(Some(RecordBatch::try_new(spec.out_schema.clone(), cols)?))
    }
}

/// The columns of `left` rows `li` beside those of `right` rows `ri` (a NULL index gives a
/// NULL row).
fn take_pairs(
    left: &RecordBatch,
    li: &UInt32Array,
    right: &RecordBatch,
    ri: &UInt32Array,
) -> Result<Vec<ArrayRef>> {
    let mut cols = Vec::with_capacity(left.num_columns() + right.num_columns());
    for c in left.columns() {
        cols.push(take(c, li, None)?);
    }
    for c in right.columns() {
        cols.push(take(c, ri, None)?);
    }
    Ok(cols)
}

fn pair_schema(l: &SchemaRef, r: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::Field> = l
        .fields()
        .iter()
        .chain(r.fields().iter())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Semi/anti join by indexing the left side: marks each left row some right row matches
/// (with the residual predicate true on the pair, if there is one).
fn reversed_semi(
    ctx: &Ctx,
    spec: &Spec,
    left: Vec<RecordBatch>,
    right: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let probe = concat_batches(&spec.left_schema, &left)?;
    let n = probe.num_rows();
    let key_types = spec
        .on
        .iter()
        .map(|(_, r)| r.data_type(&spec.right_schema))
        .collect::<Result<Vec<_>>>()?;
    let conv = RowConverter::new(key_types.into_iter().map(SortField::new).collect())?;
    let lkeys = spec
        .on
        .iter()
        .map(|(l, _)| l.eval(&probe)?.into_array(n))
        .collect::<Result<Vec<_>>>()?;
    let lrows = conv.convert_columns(&lkeys)?;
    let mut index: FxHashMap<&[u8], Vec<u32>> = FxHashMap::default();
    let keys: Vec<arrow::row::Row<'_>> = (0..n).map(|i| lrows.row(i)).collect();
    for (i, k) in keys.iter().enumerate() {
        if lkeys.iter().any(|c| c.is_null(i)) {
            continue;
        }
        index.entry(k.data()).or_default().push(i as u32);
    }
    let chunks: Vec<Vec<RecordBatch>> = {
        let per = right.len().div_ceil(2).max(1);
        let mut it = right.into_iter().peekable();
        let mut v = Vec::new();
        while it.peek().is_some() {
            v.push(it.by_ref().take(per).collect());
        }
        v
    };
    let marks = ctx.par_map(chunks, |p| {
        let mut m = vec![false; n];
        for b in &p {
            let rn = b.num_rows();
            let rkeys = spec
                .on
                .iter()
                .map(|(_, r)| r.eval(b)?.into_array(rn))
                .collect::<Result<Vec<_>>>()?;
            let rrows = conv.convert_columns(&rkeys)?;
            let (mut li, mut ri) = (Vec::new(), Vec::new());
            for i in 0..rn {
                if rkeys.iter().any(|c| c.is_null(i)) {
                    continue;
                }
                if let Some(ls) = index.get(rrows.row(i).as_ref()) {
                    for &l in ls {
                        li.push(l);
                        ri.push(i as u32);
                    }
                }
            }
            if let Some(f) = spec.filter {
                // Only pairs passing the residual predicate count as matches.
                let (l, r) = (UInt32Array::from(li), UInt32Array::from(ri));
                let pairs = RecordBatch::try_new(
                    spec.pairs_schema.clone(),
                    take_pairs(&probe, &l, b, &r)?,
                )?;
                let ok = f.eval(&pairs)?.into_array(pairs.num_rows())?;
                let ok = crate::expr::null_as_false(boolean(&ok, f)?);
                for (j, l) in l.values().iter().enumerate() {
                    if ok.value(j) {
                        m[*l as usize] = true;
                    }
                }
            } else {
                for l in li {
                    m[l as usize] = true;
                }
            }
        }
        Ok(m)
    })?;
    let want = spec.kind == JoinKind::Semi;
    let mut keep: Vec<bool> = (0..n).map(|i| marks.iter().any(|m| m[i]) == want).collect();
    spec.drop_null_keys(&probe, &mut keep)?;
    let keep: BooleanArray = keep.into_iter().map(Some).collect();
    Ok(vec![arrow::compute::filter_record_batch(&probe, &keep)?])
}

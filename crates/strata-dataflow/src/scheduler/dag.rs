//! Cutting a job into stages and running them (see the module docs of `scheduler`).

use crate::accumulator::{self, TaskUpdates};
use crate::backend::{self, JobRunner, Stage, TaskKind};
use crate::context::Inner;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::metrics::TaskMetrics;
use crate::rdd::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::shuffle::{ShuffleDependencyBase, ShuffleId};
use crate::task::TaskContext;
use rustc_hash::{FxHashMap, FxHashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Consecutive times a job may go back to re-run lost map outputs. Each lost output of a
/// killed worker can surface as its own fetch failure until the worker's death is detected
/// (heartbeat timeout), so one node loss may cost several re-runs; 4 let a job fail after a
/// single kill under load (the chaos campaign). Forgetting every output at the failed
/// address at once, as Spark does, would be the better fix.
pub const MAX_STAGE_RESUBMITS: u32 = 16;

/// What one attempt of a task computes.
pub(crate) type TaskFn<R> = Arc<dyn Fn(&TaskContext) -> Result<R> + Send + Sync>;

/// The function an action applies to each partition of its final dataset.
pub(crate) type ResultFn<T, R> =
    Arc<dyn for<'a> Fn(&'a TaskContext, BoxIter<'a, T>) -> Result<R> + Send + Sync>;

struct Outcome<R> {
    partition: usize,
    attempt: u32,
    result: Result<R>,
    updates: TaskUpdates,
    metrics: TaskMetrics,
}

pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// The hosts partition `p` of `rdd` prefers: its own, or those of the first narrow parent
/// with the same partitioning (a pipeline reads what its source reads).
fn preferred_hosts(inner: &Inner, rdd: &Arc<dyn RddBase>, p: usize) -> Vec<String> {
    if rdd.is_cache()
        && let Some(host) = inner.backend.cached_host(rdd.id(), p)
    {
        return vec![host];
    }
    let own = rdd.preferred_locations(p);
    if !own.is_empty() {
        return own
            .into_iter()
            .map(|a| match a.rsplit_once(':') {
                Some((h, _)) => h.to_string(),
                None => a,
            })
            .collect();
    }
    for dep in rdd.dependencies() {
        if let Dependency::Narrow(parent) = dep
            && parent.num_partitions() == rdd.num_partitions()
        {
            return preferred_hosts(inner, &parent, p);
        }
    }
    Vec::new()
}

/// The shuffle dependencies reachable from `rdd`: with `cross`, through shuffles too (the
/// whole lineage); without, only the stage's own pipeline (the shuffles it reads).
fn shuffles_below(rdd: &Arc<dyn RddBase>, cross: bool) -> Vec<Arc<dyn ShuffleDependencyBase>> {
    let mut out: Vec<Arc<dyn ShuffleDependencyBase>> = Vec::new();
    let mut seen = FxHashSet::default();
    let mut stack = vec![rdd.clone()];
    while let Some(r) = stack.pop() {
        for dep in r.dependencies() {
            let next = match dep {
                Dependency::Narrow(p) => p,
                Dependency::Shuffle(s) => {
                    if out.iter().any(|o| o.shuffle_id() == s.shuffle_id()) {
                        continue;
                    }
                    let parent = s.parent();
                    out.push(s);
                    if !cross {
                        continue;
                    }
                    parent
                }
            };
            if seen.insert(next.id()) {
                stack.push(next);
            }
        }
    }
    out
}

/// The shuffles a stage ending at `rdd` reads.
fn stage_inputs(rdd: &Arc<dyn RddBase>) -> Vec<ShuffleId> {
    shuffles_below(rdd, false)
        .iter()
        .map(|s| s.shuffle_id())
        .collect()
}

/// Every shuffle in `rdd`'s lineage, by id (what an executor may be asked to run).
fn all_shuffles(rdd: &Arc<dyn RddBase>) -> FxHashMap<ShuffleId, Arc<dyn ShuffleDependencyBase>> {
    shuffles_below(rdd, true)
        .into_iter()
        .map(|s| (s.shuffle_id(), s))
        .collect()
}

/// Runs `parts` of one stage, here or on the cluster's executors; returns the successes
/// and, if the stage failed, why.
fn run_stage<R: Data>(
    inner: &Arc<Inner>,
    job: u64,
    desc: &str,
    parts: &[usize],
    task: TaskFn<R>,
    kind: TaskKind,
    rdd: &Arc<dyn RddBase>,
) -> (Vec<(usize, R)>, Option<Error>) {
    let stage = inner.next_stage();
    let listeners = inner.listeners.read().clone();
    for l in &listeners {
        l.on_stage_start(job, stage, desc, parts.len());
    }
    tracing::debug!(job, stage, tasks = parts.len(), desc, "stage submitted");
    let prefs = if inner.backend.wants_locality() {
        parts
            .iter()
            .map(|&p| preferred_hosts(inner, rdd, p))
            .collect()
    } else {
        Vec::new()
    };
    let (done, failure) = inner.backend.run_stage(
        inner,
        Stage {
            job,
            stage,
            desc,
            parts,
            kind,
            prefs,
            inputs: stage_inputs(rdd),
            task: backend::erase(task),
            decode: backend::decode::<R>,
        },
    );
    let done: Vec<(usize, R)> = done
        .into_iter()
        .map(|(p, r)| (p, backend::unerase::<R>(r)))
        .collect();
    for l in &listeners {
        l.on_stage_end(stage, failure.is_none());
    }
    (done, failure)
}

/// Runs a stage's tasks on this process's pool (the [`backend::LocalBackend`]).
pub(crate) fn run_local<R: Send + 'static>(
    inner: &Arc<Inner>,
    job: u64,
    stage: u64,
    parts: &[usize],
    task: TaskFn<R>,
    desc: &str,
) -> (Vec<(usize, R)>, Option<Error>) {
    let listeners = inner.listeners.read().clone();
    let (tx, rx) = crossbeam_channel::unbounded::<Outcome<R>>();
    let submit = |partition: usize, attempt: u32| {
        let tx = tx.clone();
        let task = task.clone();
        let shuffle = inner.shuffle.clone();
        let memory = inner.memory.clone();
        let inject = inner.failures.read().should_fail(partition, attempt);
        inner.memory.runtime().cpu().spawn(move || {
            let mut tc = TaskContext::new(job, stage, partition, attempt, shuffle, memory);
            tc.inject_failure = inject;
            accumulator::begin_task();
            let mut result = match catch_unwind(AssertUnwindSafe(|| task(&tc))) {
                Ok(r) => r,
                Err(p) => Err(Error::Panicked(panic_message(p))),
            };
            if let Some(e) = tc.take_error() {
                result = Err(e);
            }
            if result.is_ok() && inject {
                result = Err(Error::Injected(partition));
            }
            // Release the lineage before reporting: once the driver has every result, no
            // pool thread may still hold a dataset the user drops (its shuffle files are
            // deleted when the last reference goes).
            drop(task);
            let updates = accumulator::end_task();
            let _ = tx.send(Outcome {
                partition,
                attempt,
                result,
                updates,
                metrics: tc.metrics,
            });
        });
    };
    for &p in parts {
        submit(p, 0);
    }
    let max_attempts = inner.config.task_max_attempts;
    let mut outstanding = parts.len();
    let mut done = Vec::with_capacity(parts.len());
    let mut failure: Option<Error> = None;
    while outstanding > 0 {
        let Ok(o) = rx.recv() else { break };
        outstanding -= 1;
        let ok = o.result.is_ok();
        for l in &listeners {
            l.on_task_end(stage, o.partition, o.attempt, ok);
        }
        match o.result {
            Ok(r) => {
                o.updates.commit();
                inner.metrics.task_succeeded(&o.metrics);
                done.push((o.partition, r));
            }
            Err(e) => {
                inner.metrics.task_failed();
                tracing::warn!(job, stage, partition = o.partition, attempt = o.attempt, error = %e, "task failed");
                if failure.is_some() {
                    continue;
                }
                if matches!(e, Error::FetchFailed { .. }) || !e.is_retryable() {
                    failure = Some(e);
                } else if o.attempt + 1 < max_attempts {
                    submit(o.partition, o.attempt + 1);
                    outstanding += 1;
                } else {
                    failure = Some(Error::TaskFailed {
                        job,
                        stage,
                        stage_name: desc.to_string(),
                        partition: o.partition,
                        attempts: o.attempt + 1,
                        cause: e.to_string(),
                    });
                }
            }
        }
    }
    (done, failure)
}

/// Shuffles upstream of `rdd` with missing map outputs, parents first.
fn missing_shuffles(inner: &Inner, rdd: &Arc<dyn RddBase>) -> Vec<Arc<dyn ShuffleDependencyBase>> {
    fn visit(
        inner: &Inner,
        rdd: &Arc<dyn RddBase>,
        seen: &mut FxHashSet<RddId>,
        seen_shuffles: &mut FxHashSet<ShuffleId>,
        out: &mut Vec<Arc<dyn ShuffleDependencyBase>>,
    ) {
        if rdd.fully_cached() {
            return;
        }
        for dep in rdd.dependencies() {
            match dep {
                Dependency::Narrow(parent) => {
                    if seen.insert(parent.id()) {
                        visit(inner, &parent, seen, seen_shuffles, out);
                    }
                }
                Dependency::Shuffle(s) => {
                    let id = s.shuffle_id();
                    if seen_shuffles.insert(id) && !inner.shuffle.missing_maps(id).is_empty() {
                        let parent = s.parent();
                        if seen.insert(parent.id()) {
                            visit(inner, &parent, seen, seen_shuffles, out);
                        }
                        out.push(s);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    visit(
        inner,
        rdd,
        &mut FxHashSet::default(),
        &mut FxHashSet::default(),
        &mut out,
    );
    out
}

fn run_map_stages(inner: &Arc<Inner>, job: u64, rdd: &Arc<dyn RddBase>) -> Result<()> {
    for dep in missing_shuffles(inner, rdd) {
        let id = dep.shuffle_id();
        let missing = inner.shuffle.missing_maps(id);
        if missing.is_empty() {
            continue;
        }
        let desc = format!("shuffle {id} map side ({})", dep.parent().name());
        let d = dep.clone();
        let task: TaskFn<crate::shuffle::MapStatus> = Arc::new(move |tc: &TaskContext| {
            let status = d.run_map_task(tc)?;
            if tc.inject_failure {
                let _ = std::fs::remove_file(&status.path);
                return Err(Error::Injected(tc.partition));
            }
            Ok(status)
        });
        let parent = dep.parent();
        let (done, failure) = run_stage(
            inner,
            job,
            &desc,
            &missing,
            task,
            TaskKind::Map(id),
            &parent,
        );
        inner
            .metrics
            .map_tasks_run
            .fetch_add(done.len() as u64, Ordering::Relaxed);
        for (map, status) in done {
            inner.shuffle.register_map_output(id, map, status);
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}

/// After a fetch failure, forgets the failed output, every other output held by the same
/// executor (of any shuffle), and every output of that shuffle whose file is gone.
///
/// An executor whose output could not be read has most likely died (or lost its disk),
/// and the driver may not have noticed yet: forgetting all of its outputs at once, as
/// Spark does, makes one node loss cost one resubmission instead of one per output it
/// held. An executor that is in fact alive only has those map tasks run again.
fn forget_lost_outputs(inner: &Inner, shuffle: ShuffleId, map: usize) {
    let held_by = inner
        .shuffle
        .map_outputs(shuffle)
        .get(map)
        .cloned()
        .flatten()
        .and_then(|s| s.location)
        .map(|l| l.executor);
    if inner.shuffle.unregister_map_output(shuffle, map) {
        inner.backend.output_lost();
    }
    if let Some(executor) = held_by {
        let n = inner.shuffle.forget_executor(executor);
        if n > 0 {
            tracing::warn!(
                executor,
                outputs = n,
                "forgot every map output of an executor after a fetch failure"
            );
            inner.backend.output_lost();
        }
    }
    for (m, status) in inner.shuffle.map_outputs(shuffle).iter().enumerate() {
        // Only a file this process owns can be checked here; a lost executor's outputs
        // were forgotten when it was declared lost.
        if let Some(s) = status
            && s.location.is_none()
            && !s.path.exists()
        {
            inner.shuffle.unregister_map_output(shuffle, m);
        }
    }
}

/// Runs `func` on `partitions` of `rdd`, returning results in the order of `partitions`.
pub(crate) fn run_job<T: Data, R: Data>(
    inner: &Arc<Inner>,
    rdd: Arc<dyn Rdd<T>>,
    partitions: Vec<usize>,
    description: &str,
    func: ResultFn<T, R>,
) -> Result<Vec<R>> {
    let job = inner.next_job();
    let base = rdd.clone().as_base();
    if !inner.backend.schedules() {
        let (rdd, func) = (rdd.clone(), func.clone());
        let runner = JobRunner {
            result: Arc::new(move |tc: &TaskContext| {
                let it = rdd.compute(tc.partition, tc);
                let r = func(tc, it)?;
                bincode::serialize(&r).map_err(|e| Error::Internal(e.to_string()))
            }),
            shuffles: all_shuffles(&base),
        };
        let bytes = inner
            .backend
            .remote_job(job, runner)
            .ok_or_else(|| Error::Internal("a non-scheduling backend ran no job".into()))??;
        return bincode::deserialize(&bytes)
            .map_err(|e| Error::Internal(format!("undecodable job result from the driver: {e}")));
    }
    let listeners = inner.listeners.read().clone();
    for l in &listeners {
        l.on_job_start(job, description);
    }
    inner
        .backend
        .job_started(job, &format!("{description} ({})", base.name()));
    let mut results: Vec<Option<R>> = partitions.iter().map(|_| None).collect();
    // Where each partition's result goes (a partition may be asked for more than once).
    // Regression (data-safety issue, row 11): a linear search per finished task made
    // scheduling quadratic in the number of partitions (100k partitions: over a minute).
    let mut slots: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for (i, p) in partitions.iter().enumerate().rev() {
        slots.entry(*p).or_default().push(i);
    }
    let mut resubmits = 0;
    let desc = format!("{description} ({})", base.name());
    let outcome = loop {
        let failure = match run_map_stages(inner, job, &base) {
            Err(e) => Some(e),
            Ok(()) => {
                let todo: Vec<usize> = partitions
                    .iter()
                    .zip(&results)
                    .filter(|(_, r)| r.is_none())
                    .map(|(p, _)| *p)
                    .collect();
                if todo.is_empty() {
                    break Ok(());
                }
                let rdd = rdd.clone();
                let func = func.clone();
                let task: TaskFn<R> = Arc::new(move |tc: &TaskContext| {
                    let it = rdd.compute(tc.partition, tc);
                    func(tc, it)
                });
                let (done, failure) =
                    run_stage(inner, job, &desc, &todo, task, TaskKind::Result, &base);
                for (p, r) in done {
                    if let Some(i) = slots.get_mut(&p).and_then(|v| v.pop()) {
                        results[i] = Some(r);
                    }
                }
                failure
            }
        };
        match failure {
            None => break Ok(()),
            Some(Error::FetchFailed {
                shuffle,
                map,
                reason,
            }) => {
                resubmits += 1;
                tracing::warn!(job, shuffle, map, reason = %reason, "lost shuffle output; re-running its map task");
                if resubmits > MAX_STAGE_RESUBMITS {
                    break Err(Error::FetchFailed {
                        shuffle,
                        map,
                        reason: format!("{reason} (gave up after {MAX_STAGE_RESUBMITS} re-runs)"),
                    });
                }
                forget_lost_outputs(inner, shuffle, map);
            }
            Some(e) => break Err(e),
        }
    };
    for l in &listeners {
        l.on_job_end(job, outcome.is_ok());
    }
    let results = outcome.and_then(|()| {
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::Internal("job finished without a result".into())))
            .collect::<Result<Vec<R>>>()
    });
    // Every executor's copy of the program gets the same results (when there are executors).
    inner.backend.job_finished(job, &|| match &results {
        Ok(r) => bincode::serialize(r)
            .map(Arc::new)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    });
    results
}

/// Computes a value in the scheduling process only and hands it to every process of the
/// application: a job with no tasks whose result is `f`'s. In an executor `f` is not run;
/// the driver's value (or its error) arrives with the job's end, so control flow stays the
/// same in every process (SPMD) even when the value depends on what only the driver knows.
pub(crate) fn run_on_driver<R: Data>(
    inner: &Arc<Inner>,
    description: &str,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let job = inner.next_job();
    if !inner.backend.schedules() {
        let runner = JobRunner {
            result: Arc::new(|_: &TaskContext| {
                Err(Error::Internal(
                    "a value computed on the driver has no tasks".into(),
                ))
            }),
            shuffles: FxHashMap::default(),
        };
        let bytes = inner
            .backend
            .remote_job(job, runner)
            .ok_or_else(|| Error::Internal("a non-scheduling backend ran no job".into()))??;
        return bincode::deserialize(&bytes)
            .map_err(|e| Error::Internal(format!("undecodable value from the driver: {e}")));
    }
    inner.backend.job_started(job, description);
    let r = f();
    inner.backend.job_finished(job, &|| match &r {
        Ok(v) => bincode::serialize(v)
            .map(Arc::new)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    });
    r
}

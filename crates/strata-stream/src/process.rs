//! Keyed process functions: per-key state of the user's type and event-time timers, both
//! checkpointed by key.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};

use crate::context::TaskInfo;
use crate::error::{Result, decode_err};
use crate::keys::Key;
use crate::operator::{Control, Data, Operator, Record, Snapshot};
use crate::state::KeyedState;
use crate::time::Ts;

/// A function over a keyed stream with state per key and event-time timers (Flink's
/// `KeyedProcessFunction`). State is the function's own serializable type; it is created
/// with `Default` on a key's first record and dropped when the function calls
/// [`ProcessContext::clear_state`].
pub trait KeyedProcessFunction<K, I, O>: Send + Sync + 'static {
    /// The state kept per key.
    type State: Default + Serialize + DeserializeOwned + Send + 'static;
    /// One record of key `key`.
    fn process(
        &self,
        key: &K,
        state: &mut Self::State,
        rec: Record<I>,
        ctx: &mut ProcessContext<O>,
    );
    /// A timer registered for `key` fired: the watermark passed `ts`.
    fn on_timer(&self, key: &K, state: &mut Self::State, ts: Ts, ctx: &mut ProcessContext<O>) {
        let _ = (key, state, ts, ctx);
    }
}

/// What a process function can do besides changing its state.
pub struct ProcessContext<'a, O> {
    out: &'a mut Vec<Record<O>>,
    timers: &'a mut Vec<Ts>,
    watermark: Ts,
    clear: bool,
}

impl<O> ProcessContext<'_, O> {
    /// Emits `value` at event time `ts`.
    pub fn emit(&mut self, ts: Ts, value: O) {
        self.out.push(Record { ts, value });
    }
    /// Fires [`KeyedProcessFunction::on_timer`] once the watermark reaches `ts`.
    pub fn register_timer(&mut self, ts: Ts) {
        self.timers.push(ts);
    }
    /// The current watermark.
    pub fn watermark(&self) -> Ts {
        self.watermark
    }
    /// Drops this key's state (and its pending timers) after the call.
    pub fn clear_state(&mut self) {
        self.clear = true;
    }
}

pub(crate) struct ProcessOp<K: Key, I, O, F: KeyedProcessFunction<K, I, O>> {
    pub(crate) uid: String,
    pub(crate) key: Arc<dyn Fn(&I) -> K + Send + Sync>,
    pub(crate) f: Arc<F>,
    pub(crate) state: KeyedState<K, F::State>,
    /// Shared files of the last snapshots: a full one, then deltas.
    chain: Vec<String>,
    task: String,
    timers: Timers<K>,
    pub(crate) watermark: Ts,
    pub(crate) next: Box<dyn Operator<O>>,
    out: Vec<Record<O>>,
    new_timers: Vec<Ts>,
}

/// Pending event-time timers, ordered by time and indexed by key (so clearing a key's
/// timers does not scan all of them).
struct Timers<K> {
    by_time: BTreeSet<(Ts, K)>,
    by_key: HashMap<K, Vec<Ts>>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Key> Timers<K> {
    fn insert(&mut self, ts: Ts, key: K) {
        if self.by_time.insert((ts, key.clone())) {
            self.by_key.entry(key).or_default().push(ts);
        }
    }

    /// The earliest timer at or before `wm`, removed.
    fn pop_due(&mut self, wm: Ts) -> Option<(Ts, K)> {
        if self.by_time.first()?.0 > wm {
            return None;
        }
        let (ts, key) = self.by_time.pop_first()?;
        if let Some(v) = self.by_key.get_mut(&key) {
            v.retain(|t| *t != ts);
            if v.is_empty() {
                self.by_key.remove(&key);
            }
        }
        Some((ts, key))
    }

    fn clear_key(&mut self, key: &K) {
        for ts in self.by_key.remove(key).unwrap_or_default() {
            self.by_time.remove(&(ts, key.clone()));
        }
    }
}

/// What a process operator writes into a checkpoint besides its state files: the chain of
/// files and the timers.
type Manifest<K> = (Vec<String>, Vec<(Ts, K)>);

impl<K: Key, I: Data, O: Data, F: KeyedProcessFunction<K, I, O>> ProcessOp<K, I, O, F> {
    pub(crate) fn new(
        info: &TaskInfo,
        uid: String,
        key: Arc<dyn Fn(&I) -> K + Send + Sync>,
        f: Arc<F>,
        next: Box<dyn Operator<O>>,
    ) -> Result<Self> {
        let mut op = ProcessOp {
            state: KeyedState::new(
                &info.state_backend,
                &format!("{uid}-{}-{}", info.stage, info.index),
            )?,
            chain: Vec::new(),
            task: format!("{}-{}", info.stage, info.index),
            uid,
            key,
            f,
            timers: Timers::default(),
            watermark: Ts::MIN,
            next,
            out: Vec::new(),
            new_timers: Vec::new(),
        };
        for blob in info.restored_blobs(&op.uid) {
            let (chain, timers): Manifest<K> = bincode::deserialize(blob).map_err(decode_err)?;
            let files = chain
                .iter()
                .map(|n| info.restored_file(n))
                .collect::<Result<Vec<_>>>()?;
            op.state.restore(files.into_iter(), |k| info.owns(k))?;
            for (t, k) in timers.into_iter().filter(|(_, k)| info.owns(k)) {
                op.timers.insert(t, k);
            }
        }
        Ok(op)
    }

    fn emit(&mut self, key: &K, state: F::State, clear: bool) -> Result<()> {
        for t in self.new_timers.drain(..) {
            self.timers.insert(t, key.clone());
        }
        if !clear {
            self.state.put(key.clone(), state)?;
        } else {
            self.state.remove(key)?;
            self.timers.clear_key(key);
        }
        for r in std::mem::take(&mut self.out) {
            self.next.process(r)?;
        }
        Ok(())
    }
}

impl<K: Key, I: Data, O: Data, F: KeyedProcessFunction<K, I, O>> Control for ProcessOp<K, I, O, F> {
    fn watermark(&mut self, wm: Ts) -> Result<()> {
        self.watermark = wm;
        while let Some((ts, key)) = self.timers.pop_due(wm) {
            let mut state = self.state.take(&key)?;
            let mut ctx = ProcessContext {
                out: &mut self.out,
                timers: &mut self.new_timers,
                watermark: wm,
                clear: false,
            };
            self.f.on_timer(&key, &mut state, ts, &mut ctx);
            let clear = ctx.clear;
            self.emit(&key, state, clear)?;
        }
        self.next.watermark(wm)
    }
    fn idle(&mut self) -> Result<()> {
        self.next.idle()
    }
    fn tick(&mut self, now: Ts) -> Result<()> {
        self.next.tick(now)
    }
    fn snapshot(&mut self, cp: u64, snap: &mut Snapshot) -> Result<()> {
        let full = self.state.next_is_full(self.chain.len());
        let bytes = self.state.snapshot(full)?;
        let name = format!("{}-{}-{cp:06}.state", self.uid, self.task);
        if full {
            self.chain.clear();
        }
        self.chain.push(name.clone());
        snap.files.push((name, bytes));
        snap.refs.extend(self.chain.iter().cloned());
        let timers: Vec<&(Ts, K)> = self.timers.by_time.iter().collect();
        let blob = bincode::serialize(&(&self.chain, timers)).map_err(decode_err)?;
        snap.states.push((self.uid.clone(), blob));
        self.next.snapshot(cp, snap)
    }
    fn finish(&mut self) -> Result<()> {
        self.next.finish()
    }
}

impl<K: Key, I: Data, O: Data, F: KeyedProcessFunction<K, I, O>> Operator<I>
    for ProcessOp<K, I, O, F>
{
    fn process(&mut self, rec: Record<I>) -> Result<()> {
        let key = (self.key)(&rec.value);
        let mut state = self.state.take(&key)?;
        let mut ctx = ProcessContext {
            out: &mut self.out,
            timers: &mut self.new_timers,
            watermark: self.watermark,
            clear: false,
        };
        self.f.process(&key, &mut state, rec, &mut ctx);
        let clear = ctx.clear;
        self.emit(&key, state, clear)
    }
}

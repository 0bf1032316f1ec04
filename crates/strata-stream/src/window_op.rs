//! The keyed window operator: assigns records to windows, merges sessions, aggregates
//! incrementally, fires panes by trigger and accumulation mode, keeps windows for the
//! allowed lateness and sends records later than that to a side output.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::context::TaskInfo;
use crate::error::{Result, decode_err};
use crate::keys::Key;
use crate::operator::{Control, Data, Operator, Record, Snapshot};
use crate::time::Ts;
use crate::window::{
    Accumulation, Aggregate, Assigner, Fired, Timing, Trigger, Window, merge_session,
};

/// Accumulators and results kept in window state.
pub trait StateData: Clone + Send + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> StateData for T {}

/// How a window operator is set up.
#[derive(Debug, Clone, Copy)]
pub struct WindowSpec {
    /// The windows.
    pub assigner: Assigner,
    /// When panes fire.
    pub trigger: Trigger,
    /// How panes relate.
    pub mode: Accumulation,
    /// How long after the watermark passes a window it still accepts records, in ms.
    pub lateness: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pane<A, R> {
    w: Window,
    acc: A,
    /// Records since the last firing.
    new: u64,
    /// Whether the on-time pane has fired.
    on_time: bool,
    /// The last value emitted (retracting mode).
    last: Option<R>,
}

pub(crate) struct WindowOp<K: Key, T, A, R> {
    uid: String,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    spec: WindowSpec,
    agg: Aggregate<T, A, R>,
    panes: HashMap<K, Vec<Pane<A, R>>>,
    timers: BTreeSet<(Ts, K)>,
    watermark: Ts,
    next_tick: Ts,
    buf: Vec<Window>,
    out: Vec<Record<Fired<K, R>>>,
    next: Box<dyn Operator<Fired<K, R>>>,
    late: Box<dyn Operator<T>>,
}

fn fire<K: Key, T, A, R: Clone>(
    agg: &Aggregate<T, A, R>,
    mode: Accumulation,
    key: &K,
    p: &mut Pane<A, R>,
    timing: Timing,
    out: &mut Vec<Record<Fired<K, R>>>,
) {
    let value = (agg.result)(&p.acc);
    let ts = p.w.max_timestamp();
    if mode == Accumulation::Retracting {
        if let Some(prev) = p.last.take() {
            out.push(Record {
                ts,
                value: Fired {
                    key: key.clone(),
                    window: p.w,
                    value: prev,
                    retraction: true,
                    timing,
                },
            });
        }
        p.last = Some(value.clone());
    }
    out.push(Record {
        ts,
        value: Fired {
            key: key.clone(),
            window: p.w,
            value,
            retraction: false,
            timing,
        },
    });
    if mode == Accumulation::Discarding {
        p.acc = (agg.create)();
    }
    p.new = 0;
}

impl<K: Key, T: Data, A: StateData, R: StateData> WindowOp<K, T, A, R> {
    pub(crate) fn new(
        info: &TaskInfo,
        uid: String,
        key: Arc<dyn Fn(&T) -> K + Send + Sync>,
        spec: WindowSpec,
        agg: Aggregate<T, A, R>,
        next: Box<dyn Operator<Fired<K, R>>>,
        late: Box<dyn Operator<T>>,
    ) -> Result<Self> {
        let mut op = WindowOp {
            uid,
            key,
            spec,
            agg,
            panes: HashMap::new(),
            timers: BTreeSet::new(),
            watermark: Ts::MIN,
            next_tick: Ts::MIN,
            buf: Vec::new(),
            out: Vec::new(),
            next,
            late,
        };
        let restored: Vec<(K, Vec<Pane<A, R>>)> =
            info.restore_keyed(&op.uid, |e: &(K, Vec<Pane<A, R>>)| &e.0)?;
        for (k, panes) in restored {
            for p in &panes {
                op.add_timers(&k, p.w);
            }
            op.panes.insert(k, panes);
        }
        Ok(op)
    }

    fn add_timers(&mut self, key: &K, w: Window) {
        self.timers.insert((w.max_timestamp(), key.clone()));
        if self.spec.lateness > 0 {
            self.timers.insert((
                w.max_timestamp().saturating_add(self.spec.lateness),
                key.clone(),
            ));
        }
    }

    fn flush(&mut self) -> Result<()> {
        for r in self.out.drain(..) {
            self.next.process(r)?;
        }
        Ok(())
    }

    /// The pane for window `w` of `key` (merging sessions), or None when `w` is late.
    fn pane_index(&mut self, key: &K, w: Window) -> Option<usize> {
        let merging = self.spec.assigner.merging();
        let mode = self.spec.mode;
        let panes = self.panes.entry(key.clone()).or_default();
        if !merging {
            if let Some(i) = panes.iter().position(|p| p.w == w) {
                return Some(i);
            }
            if window_is_late(&w, self.spec.lateness, self.watermark) {
                return None;
            }
            panes.push(Pane {
                w,
                acc: (self.agg.create)(),
                new: 0,
                on_time: false,
                last: None,
            });
            let i = panes.len() - 1;
            self.add_timers(key, w);
            return Some(i);
        }
        let existing: Vec<Window> = panes.iter().map(|p| p.w).collect();
        let (hit, merged) = merge_session(&existing, w);
        if window_is_late(&merged, self.spec.lateness, self.watermark) {
            return None;
        }
        if hit.len() == 1 && existing[hit[0]] == merged {
            return Some(hit[0]);
        }
        let mut pane = Pane {
            w: merged,
            acc: (self.agg.create)(),
            new: 0,
            on_time: false,
            last: None,
        };
        for &i in hit.iter().rev() {
            let p = panes.swap_remove(i);
            if mode == Accumulation::Retracting
                && let Some(prev) = p.last
            {
                self.out.push(Record {
                    ts: p.w.max_timestamp(),
                    value: Fired {
                        key: key.clone(),
                        window: p.w,
                        value: prev,
                        retraction: true,
                        timing: Timing::Late,
                    },
                });
            }
            (self.agg.merge)(&mut pane.acc, p.acc);
            pane.new += p.new;
            pane.on_time |= p.on_time;
        }
        panes.push(pane);
        let i = panes.len() - 1;
        self.add_timers(key, merged);
        Some(i)
    }

    /// Fires every pane with new records (processing-time and early triggers).
    fn fire_all_new(&mut self) {
        let wm = self.watermark;
        for (k, panes) in self.panes.iter_mut() {
            for p in panes.iter_mut().filter(|p| p.new > 0) {
                let timing = if p.w.max_timestamp() <= wm {
                    Timing::Late
                } else {
                    Timing::Early
                };
                fire(&self.agg, self.spec.mode, k, p, timing, &mut self.out);
            }
        }
    }
}

impl<K: Key, T: Data, A: StateData, R: StateData> Control for WindowOp<K, T, A, R> {
    fn watermark(&mut self, wm: Ts) -> Result<()> {
        if wm <= self.watermark {
            return self.next.watermark(wm);
        }
        self.watermark = wm;
        while let Some((ts, _)) = self.timers.first() {
            if *ts > wm {
                break;
            }
            let (_, key) = self.timers.pop_first().expect("first");
            let Some(panes) = self.panes.get_mut(&key) else {
                continue;
            };
            for p in panes.iter_mut() {
                if !p.on_time && p.w.max_timestamp() <= wm {
                    p.on_time = true;
                    if p.new > 0 && !matches!(self.spec.trigger, Trigger::Count(_)) {
                        fire(
                            &self.agg,
                            self.spec.mode,
                            &key,
                            p,
                            Timing::OnTime,
                            &mut self.out,
                        );
                    }
                }
            }
            let lateness = self.spec.lateness;
            panes.retain(|p| p.w.max_timestamp().saturating_add(lateness) > wm);
            if panes.is_empty() {
                self.panes.remove(&key);
            }
        }
        self.flush()?;
        self.next.watermark(wm)
    }
    fn idle(&mut self) -> Result<()> {
        self.next.idle()
    }
    fn tick(&mut self, now: Ts) -> Result<()> {
        let every = match self.spec.trigger {
            Trigger::EventTime {
                early_every: Some(e),
            } => Some(e),
            Trigger::ProcessingTime(e) => Some(e),
            _ => None,
        };
        if let Some(every) = every {
            if self.next_tick == Ts::MIN {
                self.next_tick = now + every;
            } else if now >= self.next_tick {
                self.next_tick = now + every;
                self.fire_all_new();
                self.flush()?;
            }
        }
        self.next.tick(now)
    }
    fn snapshot(&mut self, cp: u64, snap: &mut Snapshot) -> Result<()> {
        let entries: Vec<(&K, &Vec<Pane<A, R>>)> = self.panes.iter().collect();
        let blob = bincode::serialize(&entries).map_err(decode_err)?;
        snap.states.push((self.uid.clone(), blob));
        self.next.snapshot(cp, snap)?;
        self.late.snapshot(cp, snap)
    }
    fn finish(&mut self) -> Result<()> {
        self.next.finish()?;
        self.late.finish()
    }
}

impl<K: Key, T: Data, A: StateData, R: StateData> Operator<T> for WindowOp<K, T, A, R> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        let key = (self.key)(&rec.value);
        let mut windows = std::mem::take(&mut self.buf);
        self.spec.assigner.assign(rec.ts, &mut windows);
        let mut placed = false;
        for &w in &windows {
            let Some(i) = self.pane_index(&key, w) else {
                continue;
            };
            placed = true;
            let wm = self.watermark;
            let p = &mut self.panes.get_mut(&key).expect("pane")[i];
            (self.agg.add)(&mut p.acc, &rec.value);
            p.new += 1;
            let fire_now = match self.spec.trigger {
                Trigger::Count(n) => p.new >= n,
                // Within the allowed lateness: a late pane per record.
                _ => p.on_time || (wm != Ts::MIN && p.w.max_timestamp() <= wm),
            };
            if fire_now {
                let timing = if p.w.max_timestamp() <= wm {
                    Timing::Late
                } else {
                    Timing::Early
                };
                if !matches!(self.spec.trigger, Trigger::Count(_)) {
                    p.on_time = true;
                }
                fire(&self.agg, self.spec.mode, &key, p, timing, &mut self.out);
            }
        }
        self.buf = windows;
        if self.panes.get(&key).is_some_and(|p| p.is_empty()) {
            self.panes.remove(&key);
        }
        self.flush()?;
        if !placed {
            self.late.process(rec)?;
        }
        Ok(())
    }
}

/// Whether `w` (of a window operator with `lateness`) is already beyond the watermark.
fn window_is_late(w: &Window, lateness: i64, wm: Ts) -> bool {
    wm != Ts::MIN && w.max_timestamp().saturating_add(lateness) <= wm
}

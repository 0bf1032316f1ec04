//! Windows (the Dataflow model's "where in event time"), triggers ("when in processing
//! time") and accumulation modes ("how refinements relate").

use std::sync::Arc;
use std::time::Duration;

use crate::time::Ts;

/// A half-open interval of event time `[start, end)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Window {
    /// First millisecond inside.
    pub start: Ts,
    /// First millisecond after.
    pub end: Ts,
}

impl Window {
    /// The latest timestamp inside: results of the window carry it, and the window is
    /// complete when the watermark reaches it.
    pub fn max_timestamp(&self) -> Ts {
        self.end.saturating_sub(1)
    }
    fn intersects(&self, o: &Window) -> bool {
        self.start < o.end && o.start < self.end
    }
    fn span(&self, o: &Window) -> Window {
        Window {
            start: self.start.min(o.start),
            end: self.end.max(o.end),
        }
    }
}

/// Which windows a timestamp falls in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Assigner {
    /// Fixed windows of `size`, aligned to the epoch.
    Tumbling {
        /// Length in ms.
        size: i64,
    },
    /// Windows of `size` starting every `slide`.
    Sliding {
        /// Length in ms.
        size: i64,
        /// Period in ms.
        slide: i64,
    },
    /// Per key, activity separated by gaps of at least `gap` (windows merge).
    Session {
        /// Gap in ms.
        gap: i64,
    },
    /// One window over all time (fires by count or processing-time triggers, and at the
    /// end of input).
    Global,
}

impl Assigner {
    /// Tumbling windows.
    pub fn tumbling(size: Duration) -> Self {
        Assigner::Tumbling {
            size: size.as_millis() as i64,
        }
    }
    /// Sliding (hopping) windows.
    pub fn sliding(size: Duration, slide: Duration) -> Self {
        Assigner::Sliding {
            size: size.as_millis() as i64,
            slide: slide.as_millis() as i64,
        }
    }
    /// Session windows.
    pub fn session(gap: Duration) -> Self {
        Assigner::Session {
            gap: gap.as_millis() as i64,
        }
    }

    /// Whether windows of this kind merge.
    pub fn merging(&self) -> bool {
        matches!(self, Assigner::Session { .. })
    }

    /// Checks sizes are positive.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Assigner::Tumbling { size } if size <= 0 => {
                Err("tumbling window size must be > 0".into())
            }
            Assigner::Sliding { size, slide } if size <= 0 || slide <= 0 => {
                Err("sliding window size and slide must be > 0".into())
            }
            Assigner::Session { gap } if gap <= 0 => Err("session gap must be > 0".into()),
            _ => Ok(()),
        }
    }

    /// The windows `ts` belongs to (before merging).
    pub fn assign(&self, ts: Ts, out: &mut Vec<Window>) {
        out.clear();
        match *self {
            Assigner::Tumbling { size } => {
                let start = ts - ts.rem_euclid(size);
                out.push(Window {
                    start,
                    end: start + size,
                });
            }
            Assigner::Sliding { size, slide } => {
                let mut start = ts - ts.rem_euclid(slide);
                while start > ts - size {
                    out.push(Window {
                        start,
                        end: start + size,
                    });
                    start -= slide;
                }
            }
            Assigner::Session { gap } => out.push(Window {
                start: ts,
                end: ts.saturating_add(gap),
            }),
            Assigner::Global => out.push(Window {
                start: Ts::MIN,
                end: Ts::MAX,
            }),
        }
    }
}

/// Merges `w` into the session windows of a key: the indices of the existing windows it
/// bridges, and the merged window.
pub(crate) fn merge_session(existing: &[Window], w: Window) -> (Vec<usize>, Window) {
    let mut merged = w;
    let mut hit = Vec::new();
    // Merging can chain (a bridges b and c); repeat until nothing new joins.
    loop {
        let before = hit.len();
        for (i, e) in existing.iter().enumerate() {
            if !hit.contains(&i) && e.intersects(&merged) {
                merged = merged.span(e);
                hit.push(i);
            }
        }
        if hit.len() == before {
            break;
        }
    }
    hit.sort_unstable();
    (hit, merged)
}

/// When a window's result is emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// When the watermark passes the window's end (on time); `early`: also every interval
    /// of processing time before that, if new records came; late records within the
    /// allowed lateness each fire a late pane.
    EventTime {
        /// Early (speculative) firings every so often, in ms.
        early_every: Option<i64>,
    },
    /// Every `n` records of the window.
    Count(u64),
    /// Every interval of processing time, in ms, if new records came.
    ProcessingTime(i64),
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger::EventTime { early_every: None }
    }
}

/// How successive panes of one window relate (the Dataflow model's three modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accumulation {
    /// Each pane holds only what arrived since the previous one.
    Discarding,
    /// Each pane holds everything so far.
    #[default]
    Accumulating,
    /// Each pane holds everything so far, preceded by a retraction of the previous pane.
    Retracting,
}

/// Why a pane fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Timing {
    /// Before the watermark passed the window.
    Early,
    /// When the watermark passed the window.
    OnTime,
    /// For records that came after the watermark, within the allowed lateness.
    Late,
}

/// A window result.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired<K, R> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// The aggregate.
    pub value: R,
    /// In retracting mode: this pane withdraws an earlier one.
    pub retraction: bool,
    /// Why it fired.
    pub timing: Timing,
}

/// An incremental aggregation: an accumulator per window (Flink's `AggregateFunction`).
pub struct Aggregate<T, A, R> {
    pub(crate) create: Arc<dyn Fn() -> A + Send + Sync>,
    pub(crate) add: Arc<dyn Fn(&mut A, &T) + Send + Sync>,
    pub(crate) merge: Arc<dyn Fn(&mut A, A) + Send + Sync>,
    pub(crate) result: Arc<dyn Fn(&A) -> R + Send + Sync>,
}

impl<T, A, R> Clone for Aggregate<T, A, R> {
    fn clone(&self) -> Self {
        Aggregate {
            create: self.create.clone(),
            add: self.add.clone(),
            merge: self.merge.clone(),
            result: self.result.clone(),
        }
    }
}

impl<T, A, R> Aggregate<T, A, R> {
    /// From its four functions.
    pub fn new(
        create: impl Fn() -> A + Send + Sync + 'static,
        add: impl Fn(&mut A, &T) + Send + Sync + 'static,
        merge: impl Fn(&mut A, A) + Send + Sync + 'static,
        result: impl Fn(&A) -> R + Send + Sync + 'static,
    ) -> Self {
        Aggregate {
            create: Arc::new(create),
            add: Arc::new(add),
            merge: Arc::new(merge),
            result: Arc::new(result),
        }
    }
}

impl<T> Aggregate<T, u64, u64> {
    /// Counts records.
    pub fn count() -> Self {
        Aggregate::new(|| 0, |a, _| *a += 1, |a, b| *a += b, |a| *a)
    }
}

/// The session windows of one key's timestamps computed in batch (sorted, split at gaps
/// of at least `gap`), with their counts: the reference the streaming operator is
/// tested against.
pub fn merge_sessions_batch(mut ts: Vec<Ts>, gap: i64) -> Vec<(Window, u64)> {
    ts.sort_unstable();
    let mut out: Vec<(Window, u64)> = Vec::new();
    for t in ts {
        match out.last_mut() {
            Some((w, n)) if t < w.end => {
                w.end = w.end.max(t + gap);
                *n += 1;
            }
            _ => out.push((
                Window {
                    start: t,
                    end: t + gap,
                },
                1,
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_windows_cover_a_timestamp_size_over_slide_times() {
        let a = Assigner::sliding(Duration::from_secs(10), Duration::from_secs(2));
        let mut w = Vec::new();
        a.assign(11_500, &mut w);
        assert_eq!(w.len(), 5);
        assert!(w.iter().all(|w| w.start <= 11_500 && 11_500 < w.end));
        a.assign(-1, &mut w);
        assert!(w.iter().all(|w| w.start <= -1 && -1 < w.end));
    }

    #[test]
    fn sessions_merge_through_bridges() {
        let existing = [Window { start: 0, end: 10 }, Window { start: 20, end: 30 }];
        let (hit, m) = merge_session(&existing, Window { start: 9, end: 21 });
        assert_eq!(hit, vec![0, 1]);
        assert_eq!(m, Window { start: 0, end: 30 });
    }
}

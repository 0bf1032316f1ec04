//! Event time: timestamps, watermark strategies, and how watermarks of many partitions or
//! channels combine (the minimum over the active ones; an idle one does not hold the rest
//! back; an ended one counts as +infinity).

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A timestamp in milliseconds since the Unix epoch.
pub type Ts = i64;

/// The watermark of an input that has ended: everything is complete.
pub const END_OF_TIME: Ts = i64::MAX;

/// How a source stamps its records and derives watermarks, per source partition.
pub struct WatermarkStrategy<T> {
    pub(crate) timestamp: Arc<dyn Fn(&T) -> Ts + Send + Sync>,
    pub(crate) out_of_orderness: i64,
    pub(crate) idle_timeout: Option<Duration>,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            timestamp: self.timestamp.clone(),
            out_of_orderness: self.out_of_orderness,
            idle_timeout: self.idle_timeout,
        }
    }
}

impl<T> WatermarkStrategy<T> {
    /// Watermarks trail the largest timestamp seen in a partition by `bound`: a record at
    /// most `bound` older than the newest one is on time (Flink's bounded out-of-orderness;
    /// watermark = max − bound − 1 ms).
    pub fn bounded(bound: Duration, timestamp: impl Fn(&T) -> Ts + Send + Sync + 'static) -> Self {
        WatermarkStrategy {
            timestamp: Arc::new(timestamp),
            out_of_orderness: bound.as_millis() as i64,
            idle_timeout: None,
        }
    }

    /// A partition that yields nothing for `timeout` of processing time is idle: it stops
    /// holding back the combined watermark until it yields again.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }
}

/// One input's clock: its watermark and whether it is idle or ended.
#[derive(Debug, Clone)]
struct InputClock {
    watermark: Ts,
    idle: bool,
    ended: bool,
}

/// The combined watermark of several inputs (source partitions, or a task's channels).
#[derive(Debug, Clone)]
pub struct WatermarkCombiner {
    inputs: Vec<InputClock>,
    emitted: Ts,
}

impl WatermarkCombiner {
    /// `n` inputs, all at the beginning of time.
    pub fn new(n: usize) -> Self {
        WatermarkCombiner {
            inputs: vec![
                InputClock {
                    watermark: Ts::MIN,
                    idle: false,
                    ended: false,
                };
                n
            ],
            emitted: Ts::MIN,
        }
    }

    /// Adds an input (a newly discovered partition) at the current combined watermark.
    pub fn add_input(&mut self) -> usize {
        self.inputs.push(InputClock {
            watermark: self.emitted,
            idle: false,
            ended: false,
        });
        self.inputs.len() - 1
    }

    /// Input `i` reports watermark `wm` (and is therefore active).
    pub fn update(&mut self, i: usize, wm: Ts) -> Option<Ts> {
        let c = &mut self.inputs[i];
        c.idle = false;
        if wm > c.watermark {
            c.watermark = wm;
        }
        self.advance()
    }

    /// Input `i` yielded a record: it is active again (its watermark is unchanged).
    pub fn activate(&mut self, i: usize) {
        self.inputs[i].idle = false;
    }

    /// Input `i` went idle.
    pub fn set_idle(&mut self, i: usize) -> Option<Ts> {
        self.inputs[i].idle = true;
        self.advance()
    }

    /// Input `i` ended.
    pub fn end(&mut self, i: usize) -> Option<Ts> {
        self.inputs[i].ended = true;
        self.inputs[i].watermark = END_OF_TIME;
        self.advance()
    }

    /// Whether every input that has not ended is idle (and at least one has not ended).
    pub fn all_idle(&self) -> bool {
        let live: Vec<_> = self.inputs.iter().filter(|c| !c.ended).collect();
        !live.is_empty() && live.iter().all(|c| c.idle)
    }

    /// The watermark emitted so far.
    pub fn current(&self) -> Ts {
        self.emitted
    }

    /// The new combined watermark, if it moved forward.
    fn advance(&mut self) -> Option<Ts> {
        let active = self.inputs.iter().filter(|c| !c.idle || c.ended);
        let min = active.map(|c| c.watermark).min()?;
        if min > self.emitted {
            self.emitted = min;
            Some(min)
        } else {
            None
        }
    }
}

/// A source partition's watermark generator and idleness detector.
#[derive(Debug, Clone)]
pub(crate) struct PartitionClock {
    pub(crate) max_ts: Ts,
    pub(crate) last_active: Instant,
}

impl PartitionClock {
    pub(crate) fn new() -> Self {
        PartitionClock {
            max_ts: Ts::MIN,
            last_active: Instant::now(),
        }
    }

    pub(crate) fn watermark(&self, bound: i64) -> Ts {
        if self.max_ts == Ts::MIN {
            Ts::MIN
        } else {
            self.max_ts.saturating_sub(bound).saturating_sub(1)
        }
    }
}

/// Milliseconds since the Unix epoch, now (processing time).
pub fn now_ms() -> Ts {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `ts` as `YYYY-MM-DD HH:MM:SS.mmm` in UTC (how Flink SQL prints a `TIMESTAMP(3)`).
pub fn format_ts(ts: Ts) -> String {
    match chrono::DateTime::from_timestamp_millis(ts) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => ts.to_string(),
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fff]` (or with a `T`, or a trailing `Z`) as UTC, or a
/// plain integer of milliseconds since the epoch.
pub fn parse_ts(s: &str) -> Option<Ts> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let s = s.trim_end_matches('Z').replace('T', " ");
    chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_watermark_is_the_minimum_of_active_inputs() {
        let mut c = WatermarkCombiner::new(2);
        assert_eq!(c.update(0, 10), None);
        assert_eq!(c.update(1, 5), Some(5));
        assert_eq!(c.update(1, 20), Some(10));
        // An idle input stops holding the other back.
        assert_eq!(c.update(0, 12), Some(12));
        assert_eq!(c.update(0, 30), Some(20));
        assert_eq!(c.set_idle(1), Some(30));
        // Back from idleness at an older watermark: nothing goes backwards.
        assert_eq!(c.update(1, 25), None);
        assert_eq!(c.end(0), None);
        assert_eq!(c.end(1), Some(END_OF_TIME));
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_ts("2015-07-15 00:00:01.234").unwrap();
        assert_eq!(format_ts(t), "2015-07-15 00:00:01.234");
        assert_eq!(parse_ts("1437004801234"), Some(1437004801234));
        assert_eq!(
            parse_ts("2015-07-15T00:00:01Z").map(format_ts).unwrap(),
            "2015-07-15 00:00:01.000"
        );
    }
}

//! Streaming metrics in the process-wide Prometheus registry (`strata_common::metrics`),
//! served on `/metrics` by `strata stream ... --metrics-addr`: records into each stage,
//! each stage's watermark and its lag behind processing time, time producers spent
//! blocked on full channels (backpressure), and checkpoint count, duration and size.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// `stage="N"`.
pub(crate) type Labels = Vec<(String, String)>;

pub(crate) struct StreamMetrics {
    pub(crate) records: Family<Labels, Counter>,
    pub(crate) backpressure: Family<Labels, Counter<f64, AtomicU64>>,
    pub(crate) watermark: Family<Labels, Gauge>,
    pub(crate) watermark_lag: Family<Labels, Gauge>,
    pub(crate) checkpoints: Counter,
    pub(crate) checkpoint_ms: Gauge,
    pub(crate) checkpoint_bytes: Gauge,
}

/// The metrics (registered on first use).
pub(crate) fn get() -> &'static StreamMetrics {
    static M: OnceLock<StreamMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = StreamMetrics {
            records: Family::default(),
            backpressure: Family::default(),
            watermark: Family::default(),
            watermark_lag: Family::default(),
            checkpoints: Counter::default(),
            checkpoint_ms: Gauge::default(),
            checkpoint_bytes: Gauge::default(),
        };
        strata_common::metrics::registry(|r| {
            r.register(
                "stream_records",
                "Records into each stage's tasks",
                m.records.clone(),
            );
            r.register(
                "stream_backpressure_seconds",
                "Time a stage's tasks spent blocked sending to full channels",
                m.backpressure.clone(),
            );
            r.register(
                "stream_watermark_ms",
                "Each stage's event-time watermark (ms since the epoch)",
                m.watermark.clone(),
            );
            r.register(
                "stream_watermark_lag_ms",
                "How far each stage's watermark trails processing time (ms)",
                m.watermark_lag.clone(),
            );
            r.register(
                "stream_checkpoints",
                "Checkpoints completed",
                m.checkpoints.clone(),
            );
            r.register(
                "stream_checkpoint_duration_ms",
                "Duration of the last checkpoint",
                m.checkpoint_ms.clone(),
            );
            r.register(
                "stream_checkpoint_bytes",
                "State bytes written by the last checkpoint",
                m.checkpoint_bytes.clone(),
            );
        });
        m
    })
}

pub(crate) fn stage(s: usize) -> Labels {
    vec![("stage".to_string(), s.to_string())]
}

/// Records stage `s`'s watermark.
pub(crate) fn watermark(s: usize, wm: crate::time::Ts) {
    if wm == i64::MAX || wm == i64::MIN {
        return;
    }
    let m = get();
    m.watermark.get_or_create(&stage(s)).set(wm);
    m.watermark_lag
        .get_or_create(&stage(s))
        .set(crate::time::now_ms() - wm);
}

//! The process-wide metrics registry, in the Prometheus data model.
//!
//! Layers register their counters once (e.g. the dataflow engine's tasks run, bytes shuffled
//! and spilled) into [`registry`]; a daemon renders them with [`render`] on `/metrics`.
//! Embedded jobs read the same counters to report what a job did.

use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

fn global() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::with_prefix("strata")))
}

/// Registers and returns a counter (cheap to clone; clones share the value).
pub fn counter(name: &str, help: &str) -> Counter {
    let c = Counter::default();
    global().lock().register(name, help, c.clone());
    c
}

/// Registers and returns a gauge.
pub fn gauge(name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    global().lock().register(name, help, g.clone());
    g
}

/// Runs `f` with the registry, e.g. to register a gauge or histogram.
pub fn registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    f(&mut global().lock())
}

/// The Prometheus text exposition of every registered metric.
pub fn render() -> String {
    let mut out = String::new();
    let _ = encode(&mut out, &global().lock());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_render() {
        let c = super::counter("test_events", "Events seen by the test");
        c.inc_by(3);
        let text = super::render();
        assert!(text.contains("strata_test_events_total 3"), "{text}");
    }
}

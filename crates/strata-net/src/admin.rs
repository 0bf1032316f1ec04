//! The admin HTTP endpoint every daemon serves: `GET /metrics` (Prometheus text format, from
//! the process-wide registry of `strata-common`) and `GET /health` (`ok` while the process
//! serves).

use axum::Router;
use axum::routing::get;

/// Serves `/metrics`, `/health` and the `extra` routes (the master's web UI) on `listener`
/// until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    extra: Router,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    strata_common::metrics::render(),
                )
            }),
        )
        .route("/health", get(|| async { "ok\n" }))
        .merge(extra);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

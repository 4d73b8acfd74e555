//! Serving: the listener, the expiry sweeper, and a graceful stop on SIGINT or SIGTERM.

use crate::router::router;
use crate::state::AppState;

/// Deletes expired indicators, and sightings past their retention, every
/// `sweep_interval_seconds` until `shutdown` fires.
pub async fn run_sweeper(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let interval = std::time::Duration::from_secs(state.config().sweep_interval_seconds);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let now = state.now();
        match state.blocking(move |service| service.sweep(now)).await {
            Ok(report) => {
                if report.expired_indicators > 0 {
                    tracing::info!(
                        expired = report.expired_indicators,
                        "swept expired indicators"
                    );
                }
                if report.forgotten_sightings > 0 {
                    tracing::info!(
                        sightings = report.forgotten_sightings,
                        "forgot sightings past retention"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(code = %error.code, message = %error.message, "expiry sweep failed")
            }
        }
    }
}

/// Serves the router and the sweeper on `listener` until SIGINT or SIGTERM, then finishes the
/// requests in flight. The signal handlers are installed before the "listening" log line, so a
/// signal sent by whoever reads that line is never missed.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let shutdown = shutdown_signal()?;
    let address = listener.local_addr()?;
    state.set_bound_address(address);
    let config = state.config();
    tracing::info!(
        address = %address,
        data_dir = %config.data_dir.display(),
        profile = ?config.profile,
        strict = config.strict,
        "iocd listening on http://{address}"
    );
    let (stop_sweeper, sweeper_shutdown) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(run_sweeper(state.clone(), sweeper_shutdown));
    let service = state.service().clone();
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    service.shutdown();
    result
}

/// Registers SIGINT and SIGTERM handlers now and returns a future that completes on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}

//! Serving: the listener (plain or TLS), the background tasks (expiry sweeper, certificate
//! reloader, webhook delivery, syslog output, the devices-seen writer), and a graceful stop
//! on SIGINT or SIGTERM.

use crate::router::router;
use crate::state::AppState;
use crate::tls::CertificateStore;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Deletes expired indicators, and sightings past their retention, every
/// `sweep_interval_seconds` until `shutdown` fires.
pub async fn run_sweeper(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let interval = std::time::Duration::from_secs(state.config().sweep_interval_seconds);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if !state.is_leader() {
            continue;
        }
        let now = state.now();
        match state.blocking(move |service| service.sweep(now)).await {
            Ok(report) => {
                let telemetry = state.service().telemetry();
                for (kind, n) in [
                    ("indicators", report.expired_indicators),
                    ("sightings", report.forgotten_sightings),
                    ("bypasses", report.expired_bypasses),
                    ("deliveries", report.pruned_deliveries),
                ] {
                    telemetry.count(crate::metrics::SWEEPER_DELETED, &[("kind", kind)], n as u64);
                }
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

/// How often the warninglists' files are checked for changes.
const WARNINGLIST_CHECK: Duration = Duration::from_secs(30);

/// The state of a directory's files: their paths, sizes and modification times.
fn fingerprint(
    dir: &std::path::Path,
    into: &mut Vec<(std::path::PathBuf, u64, std::time::SystemTime)>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fingerprint(&path, into);
        } else if let Ok(meta) = entry.metadata() {
            into.push((
                path,
                meta.len(),
                meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            ));
        }
    }
}

/// Reloads the warninglists when their files change (checked every 30 s), until `shutdown`;
/// a set that fails to load is logged and the previous one kept.
pub(crate) async fn run_warninglist_reload(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Some(settings) = state.config().warninglists.clone() else {
        return;
    };
    let mut seen = Vec::new();
    fingerprint(&settings.path, &mut seen);
    seen.sort();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WARNINGLIST_CHECK) => {}
            _ = shutdown.changed() => return,
        }
        let mut now = Vec::new();
        fingerprint(&settings.path, &mut now);
        now.sort();
        if now == seen {
            continue;
        }
        seen = now;
        let path = settings.path.clone();
        match tokio::task::spawn_blocking(move || {
            iocd_service::warninglists::Warninglists::load(&path)
        })
        .await
        {
            Ok(Ok(lists)) => {
                tracing::info!(lists = lists.len(), "warninglists reloaded");
                state
                    .service()
                    .set_guard(Some(iocd_service::warninglists::Guard {
                        lists,
                        mode: settings.mode,
                    }));
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "warninglists not reloaded; the previous ones stay")
            }
            Err(error) => tracing::warn!(%error, "warninglists not reloaded"),
        }
    }
}

/// Serves the router and the sweeper on `listener` until SIGINT or SIGTERM, then finishes the
/// requests in flight. The signal handlers are installed before the "listening" log line, so a
/// signal sent by whoever reads that line is never missed.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let shutdown = shutdown_signal()?;
    serve_until(state, listener, shutdown).await
}

/// [`serve`], stopping when `shutdown` completes instead of on a signal.
pub async fn serve_until(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    state.set_bound_address(address);
    let config = state.config();
    let certificates = match &config.tls {
        Some(files) => Some(Arc::new(
            CertificateStore::open(files.clone()).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let acceptor = match &certificates {
        Some(store) => {
            Some(crate::tls::acceptor(Arc::clone(store)).map_err(std::io::Error::other)?)
        }
        None => None,
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    tracing::info!(
        address = %address,
        data_dir = %config.data_dir.display(),
        profile = ?config.profile,
        strict = config.strict,
        "iocd listening on {scheme}://{address}"
    );
    let limits = ConnectionLimits {
        max_connections: config.max_connections,
        header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
        shutdown_grace: Duration::from_secs(30),
    };
    let (stop_sweeper, sweeper_shutdown) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(run_sweeper(state.clone(), sweeper_shutdown.clone()));
    let stop_background = sweeper_shutdown.clone();
    let reloader = certificates.map(|store| {
        let mut stop = sweeper_shutdown;
        tokio::spawn(crate::tls::watch(
            store,
            Duration::from_secs(5),
            async move {
                let _ = stop.changed().await;
            },
        ))
    });
    let mut background = vec![
        tokio::spawn(crate::delivery::run_webhooks(
            state.clone(),
            stop_background.clone(),
        )),
        tokio::spawn(crate::delivery::run_device_flush(
            state.clone(),
            stop_background.clone(),
        )),
        tokio::spawn(run_warninglist_reload(
            state.clone(),
            stop_background.clone(),
        )),
        tokio::spawn(crate::feeds::run_feeds(
            state.clone(),
            stop_background.clone(),
        )),
    ];
    if let Some(syslog) = state.config().syslog.clone() {
        background.push(tokio::spawn(crate::delivery::run_syslog(
            state.clone(),
            syslog,
            stop_background.clone(),
        )));
    }
    if let Some(url) = state.config().events.clone() {
        let bus_state = state.clone();
        let stop = stop_background.clone();
        background.push(tokio::spawn(async move {
            if let Err(error) = crate::events_bus::run(bus_state, url, stop).await {
                tracing::error!(%error, "the event bus stopped");
            }
        }));
    }
    let service = state.service().clone();
    let app = router(state);
    let result = serve_connections(listener, app, acceptor, limits, shutdown).await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    for task in background {
        let _ = task.await;
    }
    if let Some(reloader) = reloader {
        let _ = reloader.await;
    }
    service.shutdown();
    result
}

/// How many connections are served at once, and how long one may take over its request's
/// headers (counted from when it starts waiting for them, so also how long a kept-alive
/// connection may sit idle).
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    max_connections: usize,
    header_read_timeout: Duration,
    /// How long requests in flight get to finish after the shutdown signal.
    shutdown_grace: Duration,
}

/// Accepts connections while fewer than `max_connections` are open (the rest wait in the
/// listen queue), serves each over HTTP/1.1 (inside TLS when `tls` is given; the handshake
/// must also finish within the header timeout) with the header timeout, and on `shutdown`
/// stops accepting and lets the open connections finish their requests.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let watcher = graceful.watcher();
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_one(stream, app, watcher, limits).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => serve_one(stream, app, watcher, limits).await,
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("requests still in flight after the shutdown grace period were cut off");
        }
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection until it closes.
async fn serve_one<IO>(
    stream: IO,
    app: axum::Router,
    watcher: hyper_util::server::graceful::Watcher,
    limits: ConnectionLimits,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%error, "connection ended with an error");
    }
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

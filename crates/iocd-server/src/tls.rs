//! HTTPS: the certificate chain and private key from PEM files, served with rustls (the `ring`
//! provider, no C library to link), and reloaded without a restart on SIGHUP and when either
//! file changes.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Where the server's certificate chain and private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub key: PathBuf,
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{path} holds no usable private key: {reason}")]
    BadKey { path: String, reason: String },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: String, key: String },
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// rustls with the `ring` provider: it lacks the post-quantum key exchange of the `aws-lc-rs`
/// provider (hence rustls's deprecation notice), but builds with a C compiler alone, where
/// aws-lc-rs needs a large C library build (decision 0016).
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes [`provider`] the process's default, for TLS clients (reqwest) that use the default.
pub fn install_default_provider() {
    let _ = CryptoProvider::install_default(Arc::unwrap_or_clone(provider()));
}

/// Reads and checks the certificate chain and key.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let shown = |path: &Path| path.display().to_string();
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| TlsError::Read {
            path: shown(path),
            reason: e.to_string(),
        })
    };
    let cert_pem = read(&files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read {
            path: shown(&files.cert),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(shown(&files.cert)));
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: shown(&files.key),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: shown(&files.cert),
            key: shown(&files.key),
        },
        other => TlsError::BadKey {
            path: shown(&files.key),
            reason: other.to_string(),
        },
    })?;
    Ok(certified)
}

/// The certificate being served, replaced in place when the files are reloaded.
#[derive(Debug)]
pub struct CertificateStore {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateStore {
    pub fn open(files: TlsFiles) -> Result<Self, TlsError> {
        let first = load(&files)?;
        Ok(CertificateStore {
            files,
            current: RwLock::new(Arc::new(first)),
        })
    }

    /// Loads the files again; on failure the current certificate stays in service.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(load(&self.files)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let time = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Some((time(&self.files.cert)?, time(&self.files.key)?))
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// A TLS acceptor serving whatever `store` holds, speaking HTTP/1.1.
pub fn acceptor(store: Arc<CertificateStore>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Reloads `store` on SIGHUP and when its files' modification times change (checked every
/// `every`), until `shutdown` completes. Each reload is logged; a failed one keeps the
/// certificate in service.
pub async fn watch(
    store: Arc<CertificateStore>,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut hangup = hangup_signal();
    let mut seen = store.modified();
    loop {
        let signalled = tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => false,
            () = next_hangup(&mut hangup) => true,
        };
        let now = store.modified();
        if !signalled && now == seen {
            continue;
        }
        seen = now;
        match store.reload() {
            Ok(()) => tracing::info!(
                cert = %store.files.cert.display(),
                reason = if signalled { "SIGHUP" } else { "the files changed" },
                "TLS certificate reloaded"
            ),
            Err(error) => {
                tracing::warn!(%error, "TLS certificate not reloaded; the previous one stays in service")
            }
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) {
    match hangup {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}

//! Application registrations as the server uses them: client secrets made and checked
//! (argon2id), registrations created and rotated for `iocd app`, and which applications are
//! still active, read again at most every two seconds so a revocation takes effect while the
//! server runs.

use super::Role;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iocd_model::Timestamp;
use iocd_store::StoreError;
use iocd_store::apps::{AppRegistration, AppRegistry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the server trusts its list of active applications.
pub const STATUS_REFRESH: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot generate random bytes: {0}")]
    Random(String),
    #[error("cannot hash the secret: {0}")]
    Hash(String),
}

/// A registration just made (or re-keyed) and its secret, which is shown once and stored only
/// as a hash.
#[derive(Debug)]
pub struct IssuedSecret {
    pub registration: AppRegistration,
    pub secret: String,
}

fn random_text() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The argon2id hash of `secret` (PHC string, random salt).
pub fn hash_secret(secret: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AppError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Hash(e.to_string()))
}

/// Whether `secret` is the one `hash` was made from. Slow on purpose (tens of milliseconds):
/// call it on a blocking thread.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Registers a new application of `tenant` with `roles` and returns it with its secret.
pub fn register(
    registry: &dyn AppRegistry,
    tenant: &str,
    name: &str,
    roles: &[Role],
    now: Timestamp,
) -> Result<IssuedSecret, AppError> {
    let secret = random_text()?;
    let registration = AppRegistration {
        client_id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        secret_hash: hash_secret(&secret)?,
        created: now,
        secret_changed: now,
        revoked: None,
    };
    registry.create_app(&registration)?;
    Ok(IssuedSecret {
        registration,
        secret,
    })
}

/// Gives an active registration a new secret (the old one stops working at once; tokens
/// already issued keep working until they expire). `None` if there is no such active
/// registration.
pub fn rotate_secret(
    registry: &dyn AppRegistry,
    client_id: &str,
    now: Timestamp,
) -> Result<Option<IssuedSecret>, AppError> {
    let secret = random_text()?;
    if !registry.set_app_secret(client_id, &hash_secret(&secret)?, now)? {
        return Ok(None);
    }
    Ok(registry.app(client_id)?.map(|registration| IssuedSecret {
        registration,
        secret,
    }))
}

/// Which applications may use their tokens: every registration not revoked, as of at most
/// [`STATUS_REFRESH`] ago.
pub(crate) struct AppStatus {
    registry: Arc<dyn AppRegistry>,
    /// When the list was read, and each client id with whether it is active.
    cache: Mutex<Option<(Instant, HashMap<String, bool>)>>,
}

impl std::fmt::Debug for AppStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStatus").finish_non_exhaustive()
    }
}

impl AppStatus {
    pub(crate) fn new(registry: Arc<dyn AppRegistry>) -> Self {
        AppStatus {
            registry,
            cache: Mutex::new(None),
        }
    }

    pub(crate) fn registry(&self) -> &Arc<dyn AppRegistry> {
        &self.registry
    }

    /// Whether `client_id` is registered and not revoked. Reads the store when the list is
    /// older than [`STATUS_REFRESH`], or does not know `client_id` (registered since; the
    /// callers have verified a token this server signed, so the id is not made up): call it on
    /// a blocking thread.
    pub(crate) fn is_active(&self, client_id: &str) -> Result<bool, StoreError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cache.as_ref().is_some_and(|(at, active)| {
            at.elapsed() < STATUS_REFRESH && active.contains_key(client_id)
        });
        if !fresh {
            let apps = self.registry.apps(None)?;
            let active = apps
                .into_iter()
                .map(|app| (app.client_id, app.revoked.is_none()))
                .collect();
            *cache = Some((Instant::now(), active));
        }
        Ok(cache
            .as_ref()
            .and_then(|(_, active)| active.get(client_id).copied())
            .unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_only_against_their_own_hash() {
        let hash = hash_secret("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_secret("correct horse", &hash));
        assert!(!verify_secret("correct horsf", &hash));
        assert!(!verify_secret("correct horse", "not a hash"));
        // Salted: the same secret hashes differently.
        assert_ne!(hash_secret("correct horse").unwrap(), hash);
    }

    #[test]
    fn registration_rotation_and_revocation_reach_the_status() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(iocd_store::SqliteStore::open(&dir.path().join("a.db")).unwrap());
        let now = Timestamp::from_unix_seconds(1_000);
        let issued = register(store.as_ref(), "t", "SOAR", &[Role::ReadWriteAll], now).unwrap();
        let id = issued.registration.client_id.clone();
        assert!(verify_secret(
            &issued.secret,
            &issued.registration.secret_hash
        ));
        let status = AppStatus::new(store.clone());
        assert!(status.is_active(&id).unwrap());
        assert!(!status.is_active("someone-else").unwrap());
        // Registered after the list was read: found at once.
        let later = register(store.as_ref(), "t", "Later", &[Role::ReadAll], now).unwrap();
        assert!(status.is_active(&later.registration.client_id).unwrap());

        let rotated = rotate_secret(store.as_ref(), &id, now).unwrap().unwrap();
        assert!(!verify_secret(
            &issued.secret,
            &rotated.registration.secret_hash
        ));
        assert!(verify_secret(
            &rotated.secret,
            &rotated.registration.secret_hash
        ));

        assert!(store.revoke_app(&id, now).unwrap());
        // The cached list still says active until it is read again.
        assert!(status.is_active(&id).unwrap());
        std::thread::sleep(STATUS_REFRESH + Duration::from_millis(50));
        assert!(!status.is_active(&id).unwrap());
        assert!(rotate_secret(store.as_ref(), &id, now).unwrap().is_none());
    }
}

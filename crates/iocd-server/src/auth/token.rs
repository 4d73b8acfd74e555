//! Bearer tokens: HS256 JWTs with Entra-ID-like claims (`tid`, `roles`, `appid`, `name`,
//! `exp`), signed with a key kept in the data directory.

use super::{Principal, Role};
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// The file in the data directory that holds the token signing key (hex, 32 bytes).
pub const KEY_FILE: &str = "token-signing.key";
/// The `iss` of the tokens iocd mints itself.
pub const LOCAL_ISSUER: &str = "iocd";
const ISSUER: &str = LOCAL_ISSUER;

/// The claims iocd puts in (and requires of) a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// Tenant id.
    pub tid: String,
    pub roles: Vec<String>,
    /// Application (client) id; becomes `createdBy`.
    pub appid: String,
    /// Display name; becomes `createdByDisplayName`.
    pub name: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the signing key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing key {0} is not 64 hexadecimal characters")]
    Malformed(PathBuf),
    #[error("cannot generate random bytes: {0}")]
    Random(String),
    #[error(
        "the signing key {path} can be read by other users (mode {mode:o}); make it readable by its owner only (chmod 600) and start again"
    )]
    Exposed { path: PathBuf, mode: u32 },
}

/// The longest token lifetime (`exp - iat`) accepted by default: 30 days.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS: i64 = 30 * 86_400;

/// How far in the future a token's `iat` may be, for clocks that disagree a little.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// The `iss` claim of a compact JWT, read without checking anything: only to choose which
/// verifier checks the token.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Creates `path` (and its parents) if needed and makes it readable by its owner only (0700
/// on Unix): it holds the database and the signing key.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The secret that signs and verifies tokens.
#[derive(Clone)]
pub struct SigningKey {
    secret: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        SigningKey { secret }
    }

    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SigningKey { secret })
    }

    /// Loads the key from `data_dir`, creating it (readable by the owner only) if absent.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(KEY_FILE);
        match read_private(&path)? {
            Some(text) => {
                Self::parse_hex(text.trim()).ok_or_else(|| KeyError::Malformed(path.clone()))
            }
            None => {
                let key = Self::generate()?;
                let hex: String = key.secret.iter().map(|b| format!("{b:02x}")).collect();
                create_private(data_dir, &path, hex.as_bytes())?;
                Ok(key)
            }
        }
    }

    /// The key as the text a shared store keeps (64 hex digits), and back
    /// ([`SigningKey::from_text`]): nodes on one PostgreSQL database share it that way.
    pub fn to_text(&self) -> String {
        self.secret.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key from [`SigningKey::to_text`]'s form; `None` if it is not 64 hex digits.
    pub fn from_text(text: &str) -> Option<Self> {
        Self::parse_hex(text.trim())
    }

    fn parse_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut secret = [0u8; 32];
        for (i, byte) in secret.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(SigningKey { secret })
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// Signs `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Verifies a token's signature, algorithm, issuer, expiry and lifetime (at most
    /// `max_lifetime_seconds` from `iat` to `exp`, `iat` not in the future), returning the
    /// caller.
    pub fn verify(
        &self,
        token: &str,
        now_unix: i64,
        max_lifetime_seconds: i64,
    ) -> Result<Principal, ApiError> {
        let invalid = || ApiError::unauthorized("The bearer token is invalid.");
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(invalid)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(invalid)?;
        if payload.contains('.') {
            return Err(invalid());
        }
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(invalid)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(invalid());
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(invalid)?;
        if claims.iss != ISSUER || claims.tid.is_empty() || claims.appid.is_empty() {
            return Err(invalid());
        }
        if claims.exp <= now_unix {
            return Err(ApiError::unauthorized("The bearer token has expired."));
        }
        if claims.iat > now_unix.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(ApiError::unauthorized(
                "The bearer token was issued in the future.",
            ));
        }
        if claims.exp.saturating_sub(claims.iat) > max_lifetime_seconds {
            return Err(ApiError::unauthorized(format!(
                "The bearer token lives longer than this server accepts ({max_lifetime_seconds} seconds); ask for a shorter one."
            )));
        }
        Ok(Principal {
            tenant: claims.tid,
            app_id: claims.appid,
            name: claims.name,
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
        })
    }

    /// Builds and signs a token for the given identity.
    pub fn issue(
        &self,
        tenant: &str,
        roles: &[Role],
        app_id: &str,
        name: &str,
        now_unix: i64,
        ttl_seconds: i64,
    ) -> String {
        self.sign(&Claims {
            iss: ISSUER.to_owned(),
            tid: tenant.to_owned(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            appid: app_id.to_owned(),
            name: name.to_owned(),
            iat: now_unix,
            exp: now_unix.saturating_add(ttl_seconds),
        })
    }
}

/// Reads a key file that only its owner may read; `None` if it does not exist. A file others
/// can read or write is refused: whoever reads it can mint tokens.
pub(crate) fn read_private(path: &Path) -> Result<Option<String>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(KeyError::Exposed {
                        path: path.to_owned(),
                        mode: mode & 0o777,
                    });
                }
            }
            Ok(Some(text))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io(error)),
    }
}

/// Creates the key file `path` in `data_dir` (made private first), readable by its owner
/// only.
pub(crate) fn create_private(
    data_dir: &Path,
    path: &Path,
    contents: &[u8],
) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    create_private_dir(data_dir).map_err(io)?;
    write_private(path, contents).map_err(io)
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_when_intact_and_unexpired() {
        let key = SigningKey::from_bytes([7; 32]);
        let token = key.issue("t1", &[Role::ReadWrite], "app", "My app", 1_000, 60);
        let principal = key.verify(&token, 1_010, 3600).unwrap();
        assert_eq!(principal.tenant, "t1");
        assert_eq!(principal.roles, vec![Role::ReadWrite]);
        assert_eq!(
            key.verify(&token, 1_060, 3600).unwrap_err().message,
            "The bearer token has expired."
        );
        let other = SigningKey::from_bytes([8; 32]);
        assert!(other.verify(&token, 1_010, 3600).is_err());
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 3, 'x');
        assert!(key.verify(&tampered, 1_010, 3600).is_err());
        assert!(key.verify("not.a.token", 1_010, 3600).is_err());
        assert!(key.verify("", 1_010, 3600).is_err());
        // alg=none is refused.
        let parts: Vec<&str> = token.split('.').collect();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            parts[1]
        );
        assert!(key.verify(&none, 1_010, 3600).is_err());
        // Lifetime: at most the given seconds from iat to exp, and iat not in the future.
        let long = key.issue("t1", &[Role::ReadWrite], "app", "My app", 1_000, 7_200);
        assert!(key.verify(&long, 1_010, 3_600).is_err());
        assert!(key.verify(&long, 1_010, 7_200).is_ok());
        let early = key.issue("t1", &[Role::ReadWrite], "app", "My app", 5_000, 60);
        assert_eq!(
            key.verify(&early, 1_010, 3_600).unwrap_err().message,
            "The bearer token was issued in the future."
        );
    }

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        let second = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.secret, second.secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(KEY_FILE);
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(
                mode(dir.path()),
                0o700,
                "a directory the key was created in"
            );
            // A key others can read is refused, with the reason.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = SigningKey::load_or_create(dir.path()).unwrap_err();
            assert!(error.to_string().contains("chmod 600"), "{error}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(dir.path().join(KEY_FILE), "short").unwrap();
        assert!(SigningKey::load_or_create(dir.path()).is_err());
    }
}

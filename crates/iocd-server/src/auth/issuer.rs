//! The key iocd's token endpoint signs with: an ES256 (P-256) key made on first start and kept
//! in the data directory (`token-issuer.pem`, owner-only), published as a JWK so other services
//! can verify iocd's tokens too.

use super::token::{KeyError, create_private, read_private};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The file in the data directory that holds the token endpoint's signing key (PKCS#8 PEM).
pub const ISSUER_KEY_FILE: &str = "token-issuer.pem";

/// The token endpoint's signing key and its public half.
#[derive(Clone)]
pub struct IssuerKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The key id: the first 16 bytes of the SHA-256 of the public point, base64url.
    kid: String,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
    jwk: serde_json::Value,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl IssuerKey {
    /// Loads the key from `data_dir`, creating it (owner-only) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(ISSUER_KEY_FILE);
        let malformed = || KeyError::Malformed(path.clone());
        match read_private(&path)? {
            Some(pem) => {
                let secret = p256::SecretKey::from_pkcs8_pem(&pem).map_err(|_| malformed())?;
                Self::from_secret(&secret).ok_or_else(malformed)
            }
            None => {
                let secret = Self::generate()?;
                let pem = secret
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| KeyError::Random(e.to_string()))?;
                create_private(data_dir, &path, pem.as_bytes())?;
                Self::from_secret(&secret).ok_or_else(malformed)
            }
        }
    }

    /// A new key as PKCS#8 PEM, the text a shared store keeps.
    pub fn generate_pem() -> Result<String, KeyError> {
        let secret = Self::generate()?;
        Ok(secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Random(e.to_string()))?
            .to_string())
    }

    /// The key from its PKCS#8 PEM text; `None` if it is not a P-256 key.
    pub fn from_pem(pem: &str) -> Option<Self> {
        let secret = p256::SecretKey::from_pkcs8_pem(pem).ok()?;
        Self::from_secret(&secret)
    }

    /// A new random key that lives only in memory (tests).
    pub fn ephemeral() -> Result<Self, KeyError> {
        let secret = Self::generate()?;
        Self::from_secret(&secret).ok_or_else(|| KeyError::Random("unusable key".into()))
    }

    fn generate() -> Result<p256::SecretKey, KeyError> {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
            // Fails only for zero or values past the group order: about 2^-128 of draws.
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                return Ok(secret);
            }
        }
    }

    fn from_secret(secret: &p256::SecretKey) -> Option<Self> {
        let pem = secret.to_pkcs8_pem(LineEnding::LF).ok()?;
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).ok()?;
        let point = secret.public_key().to_encoded_point(false);
        let x = URL_SAFE_NO_PAD.encode(point.x()?);
        let y = URL_SAFE_NO_PAD.encode(point.y()?);
        let decoding = DecodingKey::from_ec_components(&x, &y).ok()?;
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point.as_bytes())[..16]);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256",
        });
        Some(IssuerKey {
            encoding,
            decoding,
            kid,
            jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = IssuerKey::load_or_create(dir.path()).unwrap();
        let again = IssuerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.kid(), again.kid());
        assert_eq!(first.jwk(), again.jwk());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(ISSUER_KEY_FILE);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                IssuerKey::load_or_create(dir.path()),
                Err(KeyError::Exposed { .. })
            ));
        }
        assert_ne!(IssuerKey::ephemeral().unwrap().kid(), first.kid());
    }
}

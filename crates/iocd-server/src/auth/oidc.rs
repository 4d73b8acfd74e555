//! Tokens from external OpenID Connect issuers (Microsoft Entra ID and others): RS256, PS256
//! and ES256 signatures checked against the issuer's published keys (JWKS), chosen by `kid`,
//! fetched on first use, kept for an hour, and fetched again (at most once per
//! `jwks_min_refresh_seconds`) when a token names a key not yet known, so key rotation needs no
//! restart. Entra's claims map to the caller as MDE reads them: `tid` is the tenant, `roles`
//! (application permissions) and `scp` (delegated ones) the roles, `appid`/`azp` (or, for a
//! user, `upn`/`preferred_username`) the `createdBy`.

use super::{Principal, Role};
use crate::error::ApiError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One trusted issuer, as configured under `[[auth.oidc]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    /// A token's `iss` must equal this.
    pub issuer: String,
    /// A token's `aud` must be (or contain) this.
    pub audience: String,
    /// Where the keys are; by default read from `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The tenant every token of this issuer belongs to; by default the token's `tid`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The shortest time between two key fetches triggered by unknown `kid`s.
    #[serde(default = "default_min_refresh_seconds")]
    pub jwks_min_refresh_seconds: u64,
    /// The client id of the console's registration at this issuer (a public client, a
    /// single-page application whose redirect URI is the console's address): when set, the
    /// console offers to sign in through this issuer (authorisation code with PKCE).
    #[serde(default)]
    pub console_client_id: Option<String>,
    /// The scopes the console asks for; by default `openid profile {audience}/.default`
    /// (Entra's form: every delegated permission the user was granted).
    #[serde(default)]
    pub console_scope: Option<String>,
    /// The name of the sign-in button; by default the issuer's host.
    #[serde(default)]
    pub console_name: Option<String>,
}

impl OidcIssuer {
    /// The console's sign-in through this issuer, if it has a console client.
    pub fn console_sign_in(&self) -> Option<ConsoleSignIn> {
        let client_id = self.console_client_id.clone()?;
        let origin = origin_of(&self.issuer)?;
        let host = origin.split("://").nth(1).unwrap_or(&origin).to_owned();
        Some(ConsoleSignIn {
            name: self.console_name.clone().unwrap_or(host),
            issuer: self.issuer.clone(),
            client_id,
            scope: self.console_scope.clone().unwrap_or_else(|| {
                format!(
                    "openid profile {}/.default",
                    self.audience.trim_end_matches('/')
                )
            }),
            origin,
        })
    }
}

/// What the console needs to sign a user in through an issuer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleSignIn {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scope: String,
    /// `scheme://host[:port]` of the issuer: the console's Content-Security-Policy lets the
    /// page fetch the discovery document and redeem the code there.
    #[serde(skip)]
    pub origin: String,
}

/// `scheme://host[:port]` of an http(s) URL; `None` for anything else.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let clean = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    clean.then(|| format!("{scheme}://{authority}"))
}

fn default_min_refresh_seconds() -> u64 {
    10
}

/// How long fetched keys are used before they are fetched again.
const KEY_LIFETIME: Duration = Duration::from_secs(3600);
/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// One verification key and the algorithms it may verify.
#[derive(Clone)]
struct CachedKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeyState {
    keys: HashMap<String, CachedKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

struct IssuerKeys {
    config: OidcIssuer,
    state: tokio::sync::Mutex<KeyState>,
}

/// Verifies tokens of the configured issuers.
pub struct OidcVerifier {
    issuers: Vec<IssuerKeys>,
    http: reqwest::Client,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<&str> = self
            .issuers
            .iter()
            .map(|i| i.config.issuer.as_str())
            .collect();
        f.debug_struct("OidcVerifier")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

/// The claims read from an issuer's token (Entra's names).
#[derive(Debug, Deserialize)]
struct ExternalClaims {
    tid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    scp: Option<String>,
    appid: Option<String>,
    azp: Option<String>,
    app_displayname: Option<String>,
    name: Option<String>,
    upn: Option<String>,
    preferred_username: Option<String>,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::unauthorized(message)
}

impl OidcVerifier {
    pub fn new(issuers: Vec<OidcIssuer>) -> Result<Self, reqwest::Error> {
        crate::tls::install_default_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(OidcVerifier {
            issuers: issuers
                .into_iter()
                .map(|config| IssuerKeys {
                    config,
                    state: tokio::sync::Mutex::new(KeyState::default()),
                })
                .collect(),
            http,
        })
    }

    /// Whether `issuer` is one of the configured ones.
    pub fn trusts(&self, issuer: &str) -> bool {
        self.issuers.iter().any(|i| i.config.issuer == issuer)
    }

    /// Verifies a token whose (unverified) `iss` is `issuer` and returns its caller.
    pub async fn verify(&self, token: &str, issuer: &str) -> Result<Principal, ApiError> {
        let Some(trusted) = self.issuers.iter().find(|i| i.config.issuer == issuer) else {
            return Err(unauthorized(format!(
                "The bearer token's issuer {issuer} is not trusted by this server."
            )));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("The bearer token is invalid."))?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(unauthorized(format!(
                "The bearer token is signed with {:?}; tokens of {issuer} must be signed with RS256, PS256 or ES256.",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("The bearer token names no signing key (kid)."))?;
        let key = self.key(trusted, &kid).await?.ok_or_else(|| {
            unauthorized(format!(
                "The bearer token is signed with key {kid}, which {issuer} does not publish."
            ))
        })?;
        if !key.algorithms.contains(&header.alg) {
            return Err(unauthorized(format!(
                "The bearer token's algorithm {:?} does not match its key {kid}.",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&trusted.config.issuer]);
        validation.set_audience(&[&trusted.config.audience]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<ExternalClaims>(token, &key.key, &validation)
            .map_err(|error| refusal(&error))?
            .claims;
        principal(claims, &trusted.config)
    }

    /// The key `kid` of `issuer`, fetching the issuer's keys when they are missing, old, or
    /// lack `kid` (and the last fetch is not too recent).
    async fn key(&self, issuer: &IssuerKeys, kid: &str) -> Result<Option<CachedKey>, ApiError> {
        let mut state = issuer.state.lock().await;
        let stale = state
            .fetched_at
            .is_none_or(|at| at.elapsed() > KEY_LIFETIME);
        let known = state.keys.contains_key(kid);
        let gap = Duration::from_secs(issuer.config.jwks_min_refresh_seconds);
        let may_fetch = state.last_attempt.is_none_or(|at| at.elapsed() >= gap);
        if (stale || !known) && may_fetch {
            state.last_attempt = Some(Instant::now());
            match self.fetch_keys(&issuer.config).await {
                Ok(keys) => {
                    state.keys = keys;
                    state.fetched_at = Some(Instant::now());
                }
                Err(reason) => {
                    tracing::warn!(issuer = %issuer.config.issuer, %reason, "cannot fetch the issuer's signing keys");
                    if state.keys.is_empty() {
                        return Err(ApiError::new(
                            iocd_model::ErrorCode::ServiceUnavailable,
                            "The token issuer's signing keys cannot be fetched now; try again shortly.",
                        ));
                    }
                }
            }
        }
        Ok(state.keys.get(kid).cloned())
    }

    async fn fetch_keys(&self, config: &OidcIssuer) -> Result<HashMap<String, CachedKey>, String> {
        let jwks_uri = match &config.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    config.issuer.trim_end_matches('/')
                );
                let document: serde_json::Value = self.get_json(&discovery).await?;
                document["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| format!("{discovery} names no jwks_uri"))?
                    .to_owned()
            }
        };
        let set: JwkSet = serde_json::from_value(self.get_json(&jwks_uri).await?)
            .map_err(|e| format!("{jwks_uri} is not a JWK set: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            let Some(algorithms) = algorithms_for(jwk) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), CachedKey { key, algorithms });
            }
        }
        Ok(keys)
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {url}: not JSON: {e}"))
    }
}

/// The algorithms a published key may verify: RSA keys RS256 and PS256, P-256 keys ES256,
/// narrowed to the key's own `alg` when it states one. Other keys (HMAC secrets among them)
/// are not used.
fn algorithms_for(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Vec<Algorithm>> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![Algorithm::RS256, Algorithm::PS256],
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            vec![Algorithm::ES256]
        }
        _ => return None,
    };
    let stated = match jwk.common.key_algorithm {
        None => return Some(by_type),
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::PS256) => Algorithm::PS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(_) => return None,
    };
    by_type.contains(&stated).then(|| vec![stated])
}

/// The 401 for a token the library refused, saying why.
fn refusal(error: &jsonwebtoken::errors::Error) -> ApiError {
    use jsonwebtoken::errors::ErrorKind;
    let message = match error.kind() {
        ErrorKind::ExpiredSignature => "The bearer token has expired.".to_owned(),
        ErrorKind::ImmatureSignature => "The bearer token is not valid yet (nbf).".to_owned(),
        ErrorKind::InvalidAudience => "The bearer token is for another audience.".to_owned(),
        ErrorKind::InvalidIssuer => "The bearer token's issuer is not trusted.".to_owned(),
        ErrorKind::InvalidSignature => "The bearer token's signature is invalid.".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("The bearer token lacks the {claim} claim.")
        }
        _ => "The bearer token is invalid.".to_owned(),
    };
    unauthorized(message)
}

/// The caller a verified token names.
fn principal(claims: ExternalClaims, config: &OidcIssuer) -> Result<Principal, ApiError> {
    let tenant = config
        .tenant
        .clone()
        .or(claims.tid)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("The bearer token names no tenant (tid)."))?;
    let delegated = claims.scp.is_some();
    let (app_id, name) = if delegated {
        let user = claims
            .upn
            .or(claims.preferred_username)
            .ok_or_else(|| unauthorized("The delegated token names no user (upn)."))?;
        let name = claims.name.unwrap_or_else(|| user.clone());
        (user, name)
    } else {
        let app = claims
            .appid
            .or(claims.azp)
            .ok_or_else(|| unauthorized("The bearer token names no application (appid or azp)."))?;
        let name = claims
            .app_displayname
            .or(claims.name)
            .unwrap_or_else(|| app.clone());
        (app, name)
    };
    let mut roles: Vec<Role> = claims.roles.iter().filter_map(|r| Role::parse(r)).collect();
    for scope in claims.scp.as_deref().unwrap_or("").split_whitespace() {
        if let Some(role) = Role::parse(scope)
            && !roles.contains(&role)
        {
            roles.push(role);
        }
    }
    Ok(Principal {
        tenant,
        app_id,
        name,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_signs_in_only_through_issuers_with_a_console_client() {
        let issuer = |client: Option<&str>, url: &str| OidcIssuer {
            issuer: url.to_owned(),
            audience: "api://iocd".to_owned(),
            jwks_uri: None,
            tenant: None,
            jwks_min_refresh_seconds: 10,
            console_client_id: client.map(str::to_owned),
            console_scope: None,
            console_name: None,
        };
        assert_eq!(
            issuer(None, "https://login.example/t/v2.0").console_sign_in(),
            None
        );
        let sign_in = issuer(Some("c1"), "https://login.example:8443/t/v2.0")
            .console_sign_in()
            .expect("a console client");
        assert_eq!(
            (
                sign_in.name.as_str(),
                sign_in.origin.as_str(),
                sign_in.scope.as_str()
            ),
            (
                "login.example:8443",
                "https://login.example:8443",
                "openid profile api://iocd/.default"
            )
        );
        // Nothing that could break out of the Content-Security-Policy header.
        for bad in [
            "ftp://x.example",
            "https://a.example;script-src *",
            "https:///x",
            "no scheme",
        ] {
            assert_eq!(issuer(Some("c"), bad).console_sign_in(), None, "{bad}");
        }
    }

    fn issuer() -> OidcIssuer {
        OidcIssuer {
            issuer: "https://idp.example/".into(),
            audience: "api://iocd".into(),
            jwks_uri: None,
            tenant: None,
            jwks_min_refresh_seconds: 10,
            console_client_id: None,
            console_scope: None,
            console_name: None,
        }
    }

    fn claims(json: serde_json::Value) -> ExternalClaims {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn entra_claims_become_the_caller() {
        let app = principal(
            claims(serde_json::json!({"tid": "contoso", "roles": ["Ti.ReadWrite.All", "Unknown"], "appid": "app-1", "app_displayname": "SOAR"})),
            &issuer(),
        )
        .unwrap();
        assert_eq!(
            (app.tenant.as_str(), app.app_id.as_str(), app.name.as_str()),
            ("contoso", "app-1", "SOAR")
        );
        assert_eq!(app.roles, vec![Role::ReadWriteAll]);
        // v2 tokens name the client in azp.
        let v2 = principal(
            claims(serde_json::json!({"tid": "contoso", "roles": [], "azp": "app-2"})),
            &issuer(),
        )
        .unwrap();
        assert_eq!((v2.app_id.as_str(), v2.name.as_str()), ("app-2", "app-2"));
        // Delegated: the user is the actor, the scopes are the roles.
        let user = principal(
            claims(serde_json::json!({"tid": "contoso", "scp": "Ti.ReadWrite Other", "upn": "ana@contoso.example", "name": "Ana", "appid": "portal"})),
            &issuer(),
        )
        .unwrap();
        assert_eq!(
            (user.app_id.as_str(), user.name.as_str()),
            ("ana@contoso.example", "Ana")
        );
        assert_eq!(user.roles, vec![Role::ReadWrite]);
        // A configured tenant wins over tid; without either the token is refused.
        let fixed = OidcIssuer {
            tenant: Some("fixed".into()),
            ..issuer()
        };
        let pinned = principal(
            claims(serde_json::json!({"tid": "other", "appid": "a"})),
            &fixed,
        )
        .unwrap();
        assert_eq!(pinned.tenant, "fixed");
        assert!(principal(claims(serde_json::json!({"appid": "a"})), &issuer()).is_err());
        assert!(principal(claims(serde_json::json!({"tid": "t"})), &issuer()).is_err());
    }
}

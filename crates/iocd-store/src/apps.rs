//! Application registrations: the clients that get tokens from iocd's token endpoint with a
//! client id and secret (OAuth 2.0 client credentials, as from Entra ID), with their tenant,
//! roles and state. The secret is stored only as a slow hash.

use crate::StoreError;
use iocd_model::Timestamp;

/// One registered application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistration {
    /// The client id (a UUID), also the `appid` of its tokens and the `createdBy` of what it
    /// writes.
    pub client_id: String,
    pub tenant: String,
    /// Display name (`createdByDisplayName`).
    pub name: String,
    /// Role names, as MDE names its app roles.
    pub roles: Vec<String>,
    /// The secret's hash in PHC string form (argon2id).
    pub secret_hash: String,
    pub created: Timestamp,
    /// When the secret was last set.
    pub secret_changed: Timestamp,
    /// When the registration was revoked; its tokens are refused from then on.
    pub revoked: Option<Timestamp>,
}

/// Storage of application registrations.
pub trait AppRegistry: Send + Sync + std::fmt::Debug {
    /// Adds a registration; fails if the client id exists.
    fn create_app(&self, app: &AppRegistration) -> Result<(), StoreError>;

    /// The registration of `client_id`, revoked or not.
    fn app(&self, client_id: &str) -> Result<Option<AppRegistration>, StoreError>;

    /// Every registration, or a tenant's, oldest first.
    fn apps(&self, tenant: Option<&str>) -> Result<Vec<AppRegistration>, StoreError>;

    /// Revokes `client_id`; `false` if there is no such registration. Revoking twice keeps
    /// the first time.
    fn revoke_app(&self, client_id: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Replaces the secret of a registration that is not revoked; `false` if there is none.
    fn set_app_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
}

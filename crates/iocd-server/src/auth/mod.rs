//! Who calls: the roles MDE defines (and iocd's own), the authenticated [`Principal`] and what
//! it may read and write. Tokens that carry them are in [`token`] (minted by iocd) and
//! [`oidc`] (from external OpenID Connect issuers).

pub mod apps;
pub mod issuer;
pub mod oidc;
mod token;

pub use token::{
    Claims, DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, KEY_FILE, KeyError, LOCAL_ISSUER, SigningKey,
    create_private_dir, unverified_issuer,
};

use crate::error::ApiError;
use iocd_store::Visibility;

/// An API permission, named as MDE names its app roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `Ti.Read.All`: read every indicator of the tenant.
    ReadAll,
    /// `Ti.ReadWrite`: create; read, update and delete only what this application created.
    ReadWrite,
    /// `Ti.ReadWrite.All`: manage every indicator of the tenant.
    ReadWriteAll,
    /// `Metrics.Read` (iocd): read `/metrics`, which covers every tenant. For operators only.
    MetricsRead,
    /// `Events.Write` (iocd): send device events to `/api/events` and ask `/api/match` for
    /// verdicts; what a sensor needs, and nothing more.
    EventsWrite,
    /// `Alert.Read.All`: read the tenant's alerts.
    AlertReadAll,
    /// `Alert.ReadWrite.All`: read and update (status, classification, assignee) alerts.
    AlertReadWriteAll,
    /// `Machine.Read.All`: read the devices seen.
    MachineReadAll,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::ReadAll,
        Role::ReadWrite,
        Role::ReadWriteAll,
        Role::MetricsRead,
        Role::EventsWrite,
        Role::AlertReadAll,
        Role::AlertReadWriteAll,
        Role::MachineReadAll,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ReadAll => "Ti.Read.All",
            Role::ReadWrite => "Ti.ReadWrite",
            Role::ReadWriteAll => "Ti.ReadWrite.All",
            Role::MetricsRead => "Metrics.Read",
            Role::EventsWrite => "Events.Write",
            Role::AlertReadAll => "Alert.Read.All",
            Role::AlertReadWriteAll => "Alert.ReadWrite.All",
            Role::MachineReadAll => "Machine.Read.All",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    pub app_id: String,
    pub name: String,
    pub roles: Vec<Role>,
}

impl Principal {
    fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// What this caller may read, or 403 if it may read nothing.
    pub fn read_visibility(&self) -> Result<Visibility, ApiError> {
        if self.has(Role::ReadAll) || self.has(Role::ReadWriteAll) {
            Ok(Visibility::All)
        } else if self.has(Role::ReadWrite) {
            Ok(Visibility::CreatedBy(self.app_id.clone()))
        } else {
            Err(ApiError::forbidden(
                "The token has no role that allows reading indicators (Ti.Read.All, Ti.ReadWrite or Ti.ReadWrite.All).",
            ))
        }
    }

    /// What this caller may change, or 403 if it may write nothing.
    pub fn write_visibility(&self) -> Result<Visibility, ApiError> {
        if self.has(Role::ReadWriteAll) {
            Ok(Visibility::All)
        } else if self.has(Role::ReadWrite) {
            Ok(Visibility::CreatedBy(self.app_id.clone()))
        } else {
            Err(ApiError::forbidden(
                "The token has no role that allows writing indicators (Ti.ReadWrite or Ti.ReadWrite.All).",
            ))
        }
    }

    pub fn can_read_metrics(&self) -> bool {
        self.has(Role::MetricsRead)
    }

    /// `/api/match`: any indicator role, or a sensor's `Events.Write`.
    pub fn require_match(&self) -> Result<(), ApiError> {
        if self.has(Role::EventsWrite) || self.read_visibility().is_ok() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Matching needs Events.Write or an indicator role (Ti.Read.All, Ti.ReadWrite, Ti.ReadWrite.All).",
            ))
        }
    }

    /// `/api/events`: `Events.Write` or `Ti.ReadWrite.All`.
    pub fn require_events(&self) -> Result<(), ApiError> {
        if self.has(Role::EventsWrite) || self.has(Role::ReadWriteAll) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Sending events needs the Events.Write (or Ti.ReadWrite.All) role.",
            ))
        }
    }

    /// Reading alerts: `Alert.Read.All` or `Alert.ReadWrite.All`.
    pub fn require_alert_read(&self) -> Result<(), ApiError> {
        if self.has(Role::AlertReadAll) || self.has(Role::AlertReadWriteAll) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Reading alerts needs the Alert.Read.All or Alert.ReadWrite.All role.",
            ))
        }
    }

    /// Reading the devices seen: `Machine.Read.All` or an indicator role.
    pub fn require_machine_read(&self) -> Result<(), ApiError> {
        if self.has(Role::MachineReadAll) || self.read_visibility().is_ok() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Reading devices needs Machine.Read.All or an indicator role (Ti.Read.All, Ti.ReadWrite, Ti.ReadWrite.All).",
            ))
        }
    }

    /// Updating alerts: `Alert.ReadWrite.All`.
    pub fn require_alert_write(&self) -> Result<(), ApiError> {
        if self.has(Role::AlertReadWriteAll) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Updating alerts needs the Alert.ReadWrite.All role.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_visibility() {
        let principal = |roles: Vec<Role>| Principal {
            tenant: "t".into(),
            app_id: "a".into(),
            name: "n".into(),
            roles,
        };
        assert_eq!(
            principal(vec![Role::ReadAll]).read_visibility().unwrap(),
            Visibility::All
        );
        assert!(principal(vec![Role::ReadAll]).write_visibility().is_err());
        assert_eq!(
            principal(vec![Role::ReadWrite]).write_visibility().unwrap(),
            Visibility::CreatedBy("a".into())
        );
        assert_eq!(
            principal(vec![Role::ReadWriteAll])
                .write_visibility()
                .unwrap(),
            Visibility::All
        );
        assert!(
            principal(vec![Role::MetricsRead])
                .read_visibility()
                .is_err()
        );
    }
}

//! Which store a command works on: SQLite in the data directory (the default), or PostgreSQL
//! named by a `postgres://` URL (`--store`, `IOCD_STORE`, or `store` in the configuration
//! file), which several `iocd serve` nodes share. With PostgreSQL the signing keys live in the
//! database too, so every node, and `iocd token create`, use the same ones.

use anyhow::{Context, Result, bail};
use iocd_server::auth::SigningKey;
use iocd_server::auth::issuer::IssuerKey;
use iocd_store::PgStore;
use std::path::Path;

/// The names the PostgreSQL store keeps the keys under.
const SIGNING_KEY: &str = "token-signing-key";
const ISSUER_KEY: &str = "token-issuer-key";

/// A store URL, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreChoice {
    /// `iocd.db` in the data directory.
    Sqlite,
    Postgres(String),
}

/// What `url` names: nothing means SQLite in the data directory.
pub(crate) fn choose(url: Option<&str>) -> Result<StoreChoice> {
    match url.map(str::trim) {
        None | Some("") => Ok(StoreChoice::Sqlite),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreChoice::Postgres(url.to_owned()))
        }
        Some(other) => {
            let scheme = other.split("://").next().unwrap_or(other);
            bail!(
                "the store {scheme:?} is not supported: give a postgres:// URL, or no store for SQLite in the data directory"
            )
        }
    }
}

/// Connects to the PostgreSQL store at `url` (migrating it if needed).
pub(crate) fn postgres(url: &str) -> Result<PgStore> {
    PgStore::connect(url).context("cannot open the PostgreSQL store")
}

/// The keys of the chosen store: files in `data_dir` for SQLite, rows of the database for
/// PostgreSQL (made by whichever node or command needs them first).
pub(crate) fn keys(pg: Option<&PgStore>, data_dir: &Path) -> Result<(SigningKey, IssuerKey)> {
    let Some(store) = pg else {
        let key = SigningKey::load_or_create(data_dir)?;
        let issuer = IssuerKey::load_or_create(data_dir)?;
        return Ok((key, issuer));
    };
    let text = store.secret_or_insert(SIGNING_KEY, &SigningKey::generate()?.to_text())?;
    let key = SigningKey::from_text(&text)
        .context("the signing key in the PostgreSQL store is not 64 hex digits")?;
    let pem = store.secret_or_insert(ISSUER_KEY, &IssuerKey::generate_pem()?)?;
    let issuer = IssuerKey::from_pem(&pem)
        .context("the issuer key in the PostgreSQL store is not a P-256 key")?;
    Ok((key, issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_postgres_or_nothing() {
        assert_eq!(choose(None).unwrap(), StoreChoice::Sqlite);
        assert_eq!(choose(Some(" ")).unwrap(), StoreChoice::Sqlite);
        assert_eq!(
            choose(Some("postgres://iocd@db:5432/iocd")).unwrap(),
            StoreChoice::Postgres("postgres://iocd@db:5432/iocd".into())
        );
        assert_eq!(
            choose(Some("postgresql://db/iocd")).unwrap(),
            StoreChoice::Postgres("postgresql://db/iocd".into())
        );
        let error = choose(Some("mysql://db/iocd")).unwrap_err().to_string();
        assert!(error.contains("\"mysql\" is not supported"), "{error}");
    }
}

//! A PostgreSQL database made for one test or benchmark run and dropped with the value: the
//! fixture of the PostgreSQL store's tests, the end-to-end tests of several nodes and the
//! benchmarks that need a database. Behind the `testsuite` feature.

use crate::StoreError;

/// A database of its own on a PostgreSQL server; dropped (with its connections) when the
/// value is.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Makes the database `name` (dropping a leftover of that name first) on the server
    /// `admin_url` names; `admin_url` must name a database that exists, and its user must be
    /// allowed to create databases.
    pub fn create(admin_url: &str, name: &str) -> Result<ScratchDatabase, StoreError> {
        let fail = |reason: String| StoreError::Open {
            path: crate::redacted_url(admin_url),
            reason,
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(fail(format!("{name:?} is not a plain database name")));
        }
        let mut admin = postgres::Client::connect(admin_url, postgres::NoTls)
            .map_err(|e| fail(e.to_string()))?;
        // One statement each: these refuse to run inside the transaction several make.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let (server, _) = admin_url
            .rsplit_once('/')
            .ok_or_else(|| fail("the URL names no database".to_owned()))?;
        Ok(ScratchDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{server}/{name}"),
            name: name.to_owned(),
        })
    }

    /// The database's URL, for `--store` or [`crate::PgStore::connect`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `sql` (one or more statements) in the database.
    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls)?;
        client.batch_execute(sql)?;
        Ok(())
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

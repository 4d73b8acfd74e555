//! `iocd app`: the application registrations of the server's token endpoint (create, list,
//! rotate a secret, revoke), kept in the data directory's database or the PostgreSQL store
//! (`--store`). A running server sees a revocation within two seconds.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use iocd_model::Timestamp;
use iocd_server::auth::Role;
use iocd_server::auth::apps::{IssuedSecret, register, rotate_secret};
use iocd_store::SqliteStore;
use iocd_store::apps::{AppRegistration, AppRegistry};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Register an application; prints its client id and secret (the secret only now).
    Create(CreateArgs),
    /// List the registrations (never their secrets).
    List(ListArgs),
    /// Give an application a new secret; the old one stops working at once.
    Rotate(ClientArgs),
    /// Revoke an application: its secret and every token it holds stop working.
    Revoke(ClientArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Tenant id (the `tid` of its tokens).
    #[arg(long)]
    tenant: String,
    /// Role, as MDE names its app roles (Ti.ReadWrite.All, ...); repeat for several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// Display name (becomes createdByDisplayName).
    #[arg(long)]
    name: String,
    #[arg(long, env = "IOCD_DATA_DIR", default_value = "./iocd-data")]
    data_dir: PathBuf,
    /// The servers' PostgreSQL store (instead of the data directory's database).
    #[arg(long, env = "IOCD_STORE")]
    store: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this tenant's.
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, env = "IOCD_DATA_DIR", default_value = "./iocd-data")]
    data_dir: PathBuf,
    /// The servers' PostgreSQL store (instead of the data directory's database).
    #[arg(long, env = "IOCD_STORE")]
    store: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The application's client id.
    client_id: String,
    #[arg(long, env = "IOCD_DATA_DIR", default_value = "./iocd-data")]
    data_dir: PathBuf,
    /// The servers' PostgreSQL store (instead of the data directory's database).
    #[arg(long, env = "IOCD_STORE")]
    store: Option<String>,
}

fn now() -> Timestamp {
    Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc())
}

/// The registry: the PostgreSQL store when `store` names one, else the data directory's
/// database, which must exist unless `create`.
fn open(store: Option<&str>, data_dir: &Path, create: bool) -> Result<Box<dyn AppRegistry>> {
    match crate::store::choose(store)? {
        crate::store::StoreChoice::Postgres(url) => Ok(Box::new(crate::store::postgres(&url)?)),
        crate::store::StoreChoice::Sqlite => Ok(Box::new(open_sqlite(data_dir, create)?)),
    }
}

fn open_sqlite(data_dir: &Path, create: bool) -> Result<SqliteStore> {
    let path = data_dir.join("iocd.db");
    if create {
        iocd_server::auth::create_private_dir(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    } else if !path.exists() {
        bail!(
            "no database at {}; give the server's --data-dir",
            path.display()
        );
    }
    Ok(SqliteStore::open(&path)?)
}

fn secret_json(issued: &IssuedSecret) -> serde_json::Value {
    json!({
        "clientId": issued.registration.client_id,
        "clientSecret": issued.secret,
        "tenant": issued.registration.tenant,
        "name": issued.registration.name,
        "roles": issued.registration.roles,
    })
}

fn registration_json(app: &AppRegistration) -> serde_json::Value {
    json!({
        "clientId": app.client_id,
        "tenant": app.tenant,
        "name": app.name,
        "roles": app.roles,
        "created": app.created.to_mde_seconds(),
        "secretChanged": app.secret_changed.to_mde_seconds(),
        "revoked": app.revoked.map(|t| t.to_mde_seconds()),
    })
}

pub(crate) fn run(command: AppCommand) -> Result<ExitCode> {
    match command {
        AppCommand::Create(args) => {
            if args.tenant.trim().is_empty() || args.name.trim().is_empty() {
                bail!("--tenant and --name must not be empty");
            }
            let mut roles = Vec::new();
            for text in &args.roles {
                let Some(role) = Role::parse(text) else {
                    let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                    bail!("unknown role {text:?}; roles are {}", known.join(", "));
                };
                roles.push(role);
            }
            let store = open(args.store.as_deref(), &args.data_dir, true)?;
            let issued = register(store.as_ref(), &args.tenant, &args.name, &roles, now())?;
            println!("{}", secret_json(&issued));
        }
        AppCommand::List(args) => {
            let store = open(args.store.as_deref(), &args.data_dir, false)?;
            let apps = store.apps(args.tenant.as_deref())?;
            let list: Vec<_> = apps.iter().map(registration_json).collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        AppCommand::Rotate(args) => {
            let store = open(args.store.as_deref(), &args.data_dir, false)?;
            match rotate_secret(store.as_ref(), &args.client_id, now())? {
                Some(issued) => println!("{}", secret_json(&issued)),
                None => bail!("no active application {}", args.client_id),
            }
        }
        AppCommand::Revoke(args) => {
            let store = open(args.store.as_deref(), &args.data_dir, false)?;
            if !store.revoke_app(&args.client_id, now())? {
                bail!("no application {}", args.client_id);
            }
            eprintln!(
                "iocd: application {} revoked; a running server refuses its tokens within seconds",
                args.client_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

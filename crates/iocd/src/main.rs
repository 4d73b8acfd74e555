//! The `iocd` command: `serve` runs the API, `token create` mints bearer tokens from the data
//! directory's key, `app` registers the applications of the token endpoint, `import` sends an MDE CSV file to a server, `export` writes a tenant's
//! indicators as MDE CSV or JSON, `scan` and `match` run the matching engine offline or ask a
//! server for verdicts.

mod apps;
mod client;
mod duration;
mod exchange;
mod indicators;
mod scan;
mod store;
mod verdict;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use iocd_server::auth::{Role, SigningKey, create_private_dir};
use iocd_server::config::{Config, LogFormat};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The allocator: the matching engine allocates and frees one buffer per observed URL, and
/// mimalloc spends less time on that than glibc's malloc (decision 0012).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "iocd",
    version,
    about = "An MDE-compatible indicators of compromise service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// A PEM file of CA certificates to trust, besides the system's, when the commands that
    /// talk to a server (import, export, scan, match) reach it over HTTPS.
    #[arg(long, global = true, env = "IOCD_CA_CERT")]
    ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the applications that get tokens from the server's token endpoint.
    #[command(subcommand)]
    App(apps::AppCommand),
    /// Import a file into a server (500-item import calls): MDE CSV, STIX, a MISP event or a
    /// plain list.
    Import(client::ImportArgs),
    /// Export a tenant's indicators: MDE CSV, JSON, STIX, Zeek, Suricata or block lists.
    Export(client::ExportArgs),
    /// Match an NDJSON file of device events against indicators, offline, on every core.
    Scan(scan::ScanArgs),
    /// Print the verdict for one observed value, and why.
    Match(verdict::MatchArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Directory for the database and the token signing key [default: ./iocd-data].
    #[arg(long, env = "IOCD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "IOCD_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// The store: a postgres://user@host:port/db URL that several nodes share [default:
    /// SQLite in the data directory].
    #[arg(long, env = "IOCD_STORE")]
    store: Option<String>,
    /// Consume device events from NATS JetStream at this URL (nats://host:4222), together with
    /// every other node [default: only POST /api/events].
    #[arg(long, env = "IOCD_EVENTS")]
    events: Option<String>,
    /// TOML configuration file (see docs/configuration.md).
    #[arg(long, env = "IOCD_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: text (readable) or json (one object per line).
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info", env = "IOCD_LOG")]
    log_level: tracing::Level,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key); reloaded on SIGHUP and
    /// when the file changes.
    #[arg(long, env = "IOCD_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "IOCD_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a bearer token (alone on stdout) the server with the same data directory accepts.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
struct TokenCreateArgs {
    /// Tenant id (the `tid` claim).
    #[arg(long)]
    tenant: String,
    /// Role: Ti.Read.All, Ti.ReadWrite, Ti.ReadWrite.All or Metrics.Read; repeat for several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// Application id (becomes createdBy) [default: a new random id].
    #[arg(long)]
    app_id: Option<String>,
    /// Display name (becomes createdByDisplayName).
    #[arg(long, default_value = "iocd-cli")]
    name: String,
    /// Lifetime, e.g. 3600s, 90m, 12h, 30d.
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// The server's data directory, where the signing key lives.
    #[arg(long, env = "IOCD_DATA_DIR", default_value = "./iocd-data")]
    data_dir: PathBuf,
    /// The servers' PostgreSQL store, where their signing key lives (instead of the data
    /// directory).
    #[arg(long, env = "IOCD_STORE")]
    store: Option<String>,
    /// The server's TOML configuration file, for its longest token lifetime.
    #[arg(long, env = "IOCD_CONFIG")]
    config: Option<PathBuf>,
    /// Print a link that signs in to the web console at this server address
    /// (`URL/#token=…`; the fragment never reaches the server) instead of the bare token.
    #[arg(long, value_name = "URL")]
    open: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    iocd_server::tls::install_default_provider();
    client::set_ca_cert(cli.ca_cert);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token(TokenCommand::Create(args)) => create_token(args),
        Command::App(command) => apps::run(command),
        Command::Import(args) => client::import(args),
        Command::Export(args) => client::export(args),
        Command::Scan(args) => scan::scan(args),
        Command::Match(args) => verdict::match_value(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("iocd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn read_config(path: &std::path::Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Config::from_toml(&text).with_context(|| format!("in {}", path.display()))
}

fn load_config(args: &ServeArgs) -> Result<Config> {
    let mut config = match &args.config {
        Some(path) => read_config(path)?,
        None => Config::for_profile(Default::default()),
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(store) = &args.store {
        config.store = Some(store.clone());
    }
    if let Some(events) = &args.events {
        config.events = Some(events.clone());
    }
    match args.log_format {
        Some(LogFormatArg::Json) => config.log_format = LogFormat::Json,
        Some(LogFormatArg::Text) => config.log_format = LogFormat::Text,
        None => {}
    }
    if args.tls_cert.is_some() || args.tls_key.is_some() {
        let from_file = config.tls.take();
        let cert = args
            .tls_cert
            .clone()
            .or_else(|| from_file.as_ref().map(|f| f.cert.clone()));
        let key = args
            .tls_key
            .clone()
            .or_else(|| from_file.as_ref().map(|f| f.key.clone()));
        config.tls = iocd_server::config::tls_files(cert, key).map_err(|e| {
            anyhow::anyhow!(
                "{}",
                e.0.replace("tls_cert", "--tls-cert")
                    .replace("tls_key", "--tls-key")
            )
        })?;
    }
    Ok(config)
}

fn init_logging(format: LogFormat, level: tracing::Level) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let config = load_config(&args)?;
    init_logging(config.log_format, args.log_level);
    create_private_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (readable by its owner only)",
            config.data_dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.listen))
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // The state is built inside the runtime's context (it starts tasks) but not inside a task:
    // the PostgreSQL client blocks on a runtime of its own.
    let _context = runtime.enter();
    let loading = "loading indicators into the matching engine";
    let state = match store::choose(config.store.as_deref())? {
        store::StoreChoice::Sqlite => {
            let database = config.data_dir.join("iocd.db");
            let sqlite = iocd_store::SqliteStore::open(&database)?;
            let (key, issuer) = store::keys(None, &config.data_dir)?;
            iocd_server::AppState::new(Arc::new(sqlite), config, key, issuer).context(loading)?
        }
        store::StoreChoice::Postgres(url) => {
            let pg = Arc::new(store::postgres(&url)?);
            let (key, issuer) = store::keys(Some(&pg), &config.data_dir)?;
            tracing::info!(store = %iocd_store::redacted_url(&url), node = pg.node(), "using the PostgreSQL store");
            // Read before the matchers load: every change after it is replayed (harmlessly
            // again, if the load already saw it).
            let watermark = pg.last_change()?;
            let state =
                iocd_server::AppState::new(pg.clone(), config, key, issuer).context(loading)?;
            let status = iocd_server::follower::start(pg.clone(), state.clone(), watermark)
                .context("cannot start following the change log")?;
            iocd_server::follower::start_leadership(pg.clone(), status)
                .context("cannot start claiming leadership")?;
            state
        }
    };
    runtime
        .block_on(iocd_server::serve(state, listener))
        .context("server error")?;
    Ok(ExitCode::SUCCESS)
}

fn create_token(args: TokenCreateArgs) -> Result<ExitCode> {
    let mut roles = Vec::with_capacity(args.roles.len());
    for text in &args.roles {
        let Some(role) = Role::parse(text) else {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            bail!("unknown role {text:?}; roles are {}", known.join(", "));
        };
        roles.push(role);
    }
    if args.tenant.trim().is_empty() {
        bail!("--tenant must not be empty");
    }
    let ttl = duration::parse_seconds(&args.ttl)?;
    let max_lifetime = match &args.config {
        Some(path) => read_config(path)?.max_token_lifetime_seconds,
        None => iocd_server::auth::DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    };
    if ttl > max_lifetime {
        bail!(
            "--ttl {} is longer than the server accepts ({max_lifetime} seconds; max_token_lifetime_seconds in the configuration file, given with --config)",
            args.ttl
        );
    }
    let key = match store::choose(args.store.as_deref())? {
        store::StoreChoice::Sqlite => {
            if !args.data_dir.join(iocd_server::auth::KEY_FILE).exists() {
                eprintln!(
                    "iocd: no signing key in {} yet; creating one (start the server with the same --data-dir)",
                    args.data_dir.display()
                );
            }
            SigningKey::load_or_create(&args.data_dir)?
        }
        store::StoreChoice::Postgres(url) => {
            store::keys(Some(&store::postgres(&url)?), &args.data_dir)?.0
        }
    };
    let app_id = args.app_id.unwrap_or_else(uuid_v4);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = key.issue(&args.tenant, &roles, &app_id, &args.name, now, ttl);
    match &args.open {
        Some(url) => println!("{}/#token={token}", url.trim_end_matches('/')),
        None => println!("{token}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    // Falls back to a time-derived id only if the OS has no randomness, which cannot happen on
    // supported platforms.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = time::OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

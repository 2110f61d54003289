//! `clicktrail-collector`: the command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::sync::Arc;

use clicktrail_collector::backup;
use clicktrail_collector::catalog::CatalogHandle;
use clicktrail_collector::config::DEMO_ADMIN_KEY;
use clicktrail_collector::db::{self, Db};
use clicktrail_collector::{app, AppState, Config};
use clicktrail_store::Store;

/// mimalloc instead of glibc's allocator: glibc's `malloc`/`free` were ~11 % of the collector
/// under load (cross-thread frees between the HTTP workers and the writer); see
/// docs/scaling.md for the measured difference.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "clicktrail-collector",
    version,
    about = "clicktrail collector: records affiliate clicks, leads, conversions and Stripe sales in SQLite",
    long_about = "clicktrail collector: records affiliate clicks, leads, conversions and Stripe sales in SQLite.\n\n\
Quick start (demo tenant, nothing to configure):\n  \
clicktrail-collector serve --demo\n\
then open http://127.0.0.1:8080/?aff=alice and http://127.0.0.1:8080/dashboard\n\n\
Production:\n  \
clicktrail-collector serve --config /etc/clicktrail/clicktrail.toml --listen 127.0.0.1:8080\n\
(the file's [server] database names the database; every command given the same file uses it)\n\n\
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to change the level."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
#[group(required = false, multiple = false)]
struct Source {
    /// Configuration file (TOML): `[server]` settings (the database included), and tenants,
    /// affiliates, conversion types and keys that are applied to the database's catalog at
    /// start; tenants and affiliates the file declared and no longer declares are disabled.
    /// See collector/examples/clicktrail.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seed the built-in demo tenant `demo` (affiliates alice and bob, ingest+read key
    /// demo_secret_key, admin key demo_admin_key, Stripe webhook secret whsec_demo). For trying
    /// clicktrail out only.
    #[arg(long)]
    demo: bool,
}

/// `--db`: a file path or `sqlite://PATH` (embedded SQLite) or `postgres://USER[:PASS]@HOST[:PORT]/DB`.
#[derive(Args, Clone)]
struct DbArg {
    /// Database: a file path or sqlite://PATH (embedded SQLite) or
    /// postgres://USER[:PASS]@HOST[:PORT]/DB (PostgreSQL >= 15). Without it: the config file's
    /// `[server] database`, else ./clicktrail.db. Only `serve` creates a missing SQLite file.
    #[arg(long, value_name = "URL", env = "CLICKTRAIL_DB")]
    db: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP collector.
    Serve {
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        db: DbArg,
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory holding the built tracker (tracking.js, clicktrail_bg.wasm). Default: the
        /// files built into a release binary, else ./dist.
        #[arg(long, value_name = "DIR")]
        dist: Option<PathBuf>,
        /// Directory of pages served at / (the demo shop). Served with --demo (default ./www) or
        /// when given; otherwise / is a short page naming the product and linking /dashboard.
        #[arg(long, value_name = "DIR")]
        www: Option<PathBuf>,
        /// Requests per second allowed per client IP (0 = no limit). Overrides the config
        /// file's `server.rate_limit_per_second` (default 100, burst 200).
        #[arg(long, value_name = "N")]
        rate_limit: Option<u32>,
    },
    /// Import transactions (sales) from a CSV file: all rows or none.
    ///
    /// Header: transaction_id, amount (e.g. 49.00) or amount_cents (e.g. 4900), and optionally
    /// currency, click_id, customer_key, created_at (RFC 3339 or YYYY-MM-DD), status,
    /// conversion_type, is_recurring, subscription_id. PartnerStack's transaction columns (key,
    /// amount in cents, customer_key / customer_external_key / customer_email, currency,
    /// created_at, category_key, product_key) are read as they are. Bad rows are reported by
    /// line number and nothing is imported when any row is bad.
    ImportCsv {
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        db: DbArg,
        /// Tenant to import into (needed when the config declares several).
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// The CSV file.
        file: PathBuf,
    },
    /// Apply a configuration file's tenants to the database's catalog and exit (running
    /// collectors pick the change up within seconds, without a restart). The database is the
    /// one `serve` uses with the same file; it must exist.
    ApplyConfig {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        db: DbArg,
    },
    /// Copy every row of one database into an empty one of the other backend (SQLite ->
    /// PostgreSQL to grow, or back), then check every table's row count and money sums on
    /// both sides. Stop the collectors first; the source is left as it was.
    Migrate {
        /// The database to copy (sqlite://PATH or a path, or postgres://…); it must exist.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty database to copy into (an SQLite file is created if missing).
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// A consistent copy of an SQLite database while collectors keep serving
    /// (for PostgreSQL use pg_dump). Files are created readable by their owner only.
    Backup {
        /// Configuration file (TOML): its `[server] database` names the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
        /// Write the copy to this file (must not exist; its folder is created).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "dir",
            required_unless_present = "dir"
        )]
        to: Option<PathBuf>,
        /// Write the copy into this folder (created if missing) as
        /// clicktrail-YYYYMMDDTHHMMSSZ.db, several a day.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// With --dir: afterwards, delete the folder's clicktrail-*.db copies older than this
        /// many days (never the one just made).
        #[arg(long, value_name = "DAYS", requires = "dir")]
        keep_days: Option<u32>,
    },
    /// Erase one customer (--customer-key or --email) or one visitor (--cid): their personal
    /// fields are removed or replaced by a keyed hash, money rows stay as they are, the
    /// audit log records it without the value (docs/privacy.md). Safe while collectors serve.
    Erase {
        /// Configuration file (TOML): its `[server] database` names the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
        /// Tenant (needed when the database has several).
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        #[arg(long, value_name = "KEY", group = "subject")]
        customer_key: Option<String>,
        #[arg(long, value_name = "EMAIL", group = "subject")]
        email: Option<String>,
        #[arg(long, value_name = "CID", group = "subject")]
        cid: Option<String>,
    },
}

/// The configuration to apply: the file, the demo, or nothing (the database's catalog as is).
fn load(source: &Source) -> anyhow::Result<Option<Config>> {
    match (&source.config, source.demo) {
        (Some(path), _) => Config::load(path).map(Some),
        (None, true) => Ok(Some(Config::demo())),
        (None, false) => Ok(None),
    }
}

/// Applies the configuration's catalog declarations, if any, and logs the tenants and
/// affiliates the file no longer declares (disabled by the apply).
async fn apply(store: &dyn Store, config: Option<&Config>) -> anyhow::Result<()> {
    let Some(c) = config else {
        return Ok(());
    };
    clicktrail_collector::retention::apply(store, &c.retention).await?;
    let before = store
        .load_catalog()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the catalog: {e}"))?;
    store
        .apply_catalog(c.tenants.clone(), chrono::Utc::now().timestamp())
        .await
        .map_err(|e| anyhow::anyhow!("cannot apply the configuration: {e}"))?;
    for (tenant, settings) in &c.programs {
        store
            .program()
            .set_program_settings(tenant, settings, chrono::Utc::now().timestamp())
            .await
            .map_err(|e| anyhow::anyhow!("cannot apply tenant `{tenant}`'s program: {e}"))?;
    }
    let after = store
        .load_catalog()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the catalog: {e}"))?;
    for t in &before.tenants {
        match after.tenant(&t.id) {
            None => tracing::warn!(
                tenant = %t.id,
                "tenant removed from the config file: disabled (its keys and clicks are refused, its data kept)"
            ),
            Some(now) => {
                let revoked = before
                    .keys
                    .iter()
                    .filter(|(hash, g)| g.tenant == t.id && !after.keys.contains_key(*hash))
                    .count();
                if revoked > 0 {
                    tracing::warn!(
                        tenant = %t.id,
                        keys = revoked,
                        "key removed from the config file: revoked"
                    );
                }
                for a in t.affiliates.iter().filter(|a| !now.affiliates.contains(a)) {
                    tracing::warn!(
                        tenant = %t.id,
                        affiliate = %a,
                        "affiliate removed from the config file: disabled (its clicks are refused, its data kept)"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Restricts files this process creates (database, WAL, backups) to their owner.
fn private_umask() {
    // SAFETY: umask only changes this process's file-creation mask
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old | 0o077);
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = match Cli::command()
        .version(version())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    private_umask();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--version`: the release (Cargo's package version, the one place it is set) and the tracker
/// build this binary serves.
fn version() -> String {
    let tracker = clicktrail_collector::embedded::tracker_build()
        .map(|id| format!("tracker build {id} built in"))
        .unwrap_or_else(|| "tracker served from --dist (not built in)".into());
    format!("{} ({tracker})", env!("CARGO_PKG_VERSION"))
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve {
            source,
            db,
            listen,
            dist,
            www,
            rate_limit,
        } => {
            let config = load(&source)?;
            // the built-in tracker files, unless a folder is named (kept until the process ends)
            let built_in = match dist {
                Some(_) => None,
                None => clicktrail_collector::embedded::unpack()?,
            };
            let dist = dist
                .or_else(|| built_in.as_ref().map(|d| d.path().to_path_buf()))
                .unwrap_or_else(|| PathBuf::from("./dist"));
            if let (Some(c), Some(path)) = (&config, &source.config) {
                let found = c.placeholders();
                if !found.is_empty() {
                    anyhow::bail!(
                        "{} still holds the example's placeholder values ({}): put fresh random \
                         values there (openssl rand -hex 24) or use --demo to try clicktrail out",
                        path.display(),
                        found.join(", ")
                    );
                }
                for t in c
                    .tenants
                    .iter()
                    .filter(|t| t.tenant.allowed_origins.iter().any(|o| o == "*"))
                {
                    tracing::warn!(
                        tenant = %t.tenant.id,
                        "allowed_origins = [\"*\"]: any web page may send this tenant clicks and conversions"
                    );
                }
            }
            let resolved = db::resolve(db.db.as_deref(), config.as_ref())?;
            let db = resolved.db.clone();
            let store = resolved.open_or_create().await?;
            apply(store.as_ref(), config.as_ref()).await?;
            let smtp = config.as_ref().and_then(|c| c.smtp.clone());
            let mut server = config.map(|c| c.server).unwrap_or_default();
            if let Some(r) = rate_limit {
                server.rate_limit_per_second = r;
            }
            let catalog = Arc::new(
                CatalogHandle::load(store.as_ref())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot read the catalog: {e}"))?,
            );
            if catalog.get().tenants.is_empty() {
                anyhow::bail!(
                    "the database declares no tenant: start once with --config FILE (or --demo)"
                );
            }
            catalog.spawn_refresh(store.clone());
            clicktrail_collector::retention::spawn(store.clone());
            match smtp {
                Some(smtp) => clicktrail_collector::mail::worker::spawn(store.clone(), smtp)?,
                None => {
                    tracing::info!("no [smtp] configured: the program's emails wait in the outbox")
                }
            }
            clicktrail_collector::webhooks_out::spawn(store.clone())?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let local = listener.local_addr()?;
            let demo = source.demo && source.config.is_none();
            let serve_www = demo || www.is_some();
            let www = www.unwrap_or_else(|| PathBuf::from("./www"));
            let state = AppState::new(store.clone(), catalog.clone(), server).with(|s| {
                s.dist_dir = dist.clone();
                s.www_dir = www.clone();
                s.serve_www = serve_www;
                s.demo = demo;
                s.admin_token = std::env::var("CLICKTRAIL_ADMIN_TOKEN")
                    .ok()
                    .filter(|t| t.len() >= 16);
            });
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                listen = %local,
                db = %db.display(),
                backend = store.backend(),
                tenants = catalog.get().tenants.len(),
                rate_limit_per_second = state.server.rate_limit_per_second,
                "clicktrail collector started"
            );
            let shown = if local.ip().is_unspecified() {
                SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
            } else {
                local
            };
            let mut out = std::io::stdout();
            writeln!(out, "clicktrail collector listening on http://{shown}")?;
            if demo {
                writeln!(out, "Demo mode (tenant `demo`, API key demo_secret_key, admin key {DEMO_ADMIN_KEY}, webhook secret whsec_demo; demo only)")?;
                writeln!(out, "  Demo affiliate link: http://{shown}/?aff=alice")?;
                writeln!(out, "  Dashboard:           http://{shown}/dashboard")?;
            }
            out.flush()?;
            let server = state.server.clone();
            let router = app(state);
            clicktrail_collector::serve::serve(listener, router, &server, shutdown()).await?;
            store.close().await;
            let w = store.write_stats();
            tracing::info!(
                commits = w.commits,
                writes = w.jobs,
                mean_batch = format!("{:.1}", w.jobs as f64 / w.commits.max(1) as f64),
                max_batch = w.max_batch,
                wal_peak_bytes = store.wal_status().map(|w| w.peak_bytes),
                "stopped (group commit statistics)"
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::ImportCsv {
            source,
            db,
            tenant,
            file,
        } => {
            let config = load(&source)?;
            let resolved = db::resolve(db.db.as_deref(), config.as_ref())?;
            let store = resolved.open_existing().await?;
            apply(store.as_ref(), config.as_ref()).await?;
            let catalog = store
                .load_catalog()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the catalog: {e}"))?;
            let tenant = match tenant {
                Some(id) => catalog
                    .tenant(&id)
                    .with_context(|| format!("unknown tenant `{id}`"))?
                    .clone(),
                None => match catalog.tenants.as_slice() {
                    [only] => only.clone(),
                    [] => anyhow::bail!("the database declares no tenant: give --config FILE"),
                    _ => anyhow::bail!("several tenants are configured: give --tenant ID"),
                },
            };
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let now = chrono::Utc::now().timestamp();
            match clicktrail_collector::import::import_file(store.as_ref(), &tenant, f, now).await?
            {
                Ok(n) => {
                    println!("imported {n} transactions into tenant `{}`", tenant.id);
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(bad) => {
                    eprintln!(
                        "nothing imported: {} bad row(s) in {}",
                        bad.len(),
                        file.display()
                    );
                    for (line, msg) in bad {
                        eprintln!("  line {line}: {msg}");
                    }
                    Ok(std::process::ExitCode::from(2))
                }
            }
        }
        Command::ApplyConfig { config, db } => {
            let config = Config::load(&config)?;
            let resolved = db::resolve(db.db.as_deref(), Some(&config))?;
            let store = resolved.open_existing().await?;
            apply(store.as_ref(), Some(&config)).await?;
            println!(
                "applied {} tenant(s) to {} (from {})",
                config.tenants.len(),
                resolved.db.display(),
                resolved.source
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Erase {
            config,
            db,
            tenant,
            customer_key,
            email,
            cid,
        } => {
            let subject = clicktrail_domain::erasure::Subject::parse(
                customer_key.as_deref(),
                email.as_deref(),
                cid.as_deref(),
            )
            .map_err(|(f, m)| anyhow::anyhow!("--{}: {m}", f.replace('_', "-")))?;
            let config = config.as_deref().map(Config::load).transpose()?;
            let resolved = db::resolve(db.db.as_deref(), config.as_ref())?;
            let store = resolved.open_existing().await?;
            let (tenant, erased) = clicktrail_collector::retention::erase_command(
                store.as_ref(),
                tenant.as_deref(),
                subject,
            )
            .await?;
            println!(
                "tenant `{tenant}`: {} customer keys, {} CIDs, {} emails, {} conversions, {} billing customers erased",
                erased.customer_keys, erased.cids, erased.emails, erased.conversions, erased.billing_customers
            );
            store.close().await;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Migrate { from, to } => {
            let (from, to) = (Db::parse(&from), Db::parse(&to));
            println!("copying {} into {}", from.display(), to.display());
            let mut say = |line: String| println!("{line}");
            clicktrail_collector::migrate::migrate(&from, &to, &mut say).await?;
            println!(
                "done: point [server] database at {} and start the collectors",
                to.display()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Backup {
            config,
            db,
            to,
            dir,
            keep_days,
        } => {
            let config = config.as_deref().map(Config::load).transpose()?;
            let resolved = db::resolve(db.db.as_deref(), config.as_ref())?;
            let Db::Sqlite(path) = &resolved.db else {
                anyhow::bail!(
                    "backup copies SQLite databases; for PostgreSQL use pg_dump (docs/production.md)"
                );
            };
            if path != ":memory:" && !std::path::Path::new(path).exists() {
                anyhow::bail!("no database at {path} (from {})", resolved.source);
            }
            let now = chrono::Utc::now();
            let target = match (&to, &dir) {
                (Some(file), _) => {
                    if file.exists() {
                        anyhow::bail!("{} exists: give a new file", file.display());
                    }
                    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                        backup::create_dir(parent)?;
                    }
                    file.clone()
                }
                (None, Some(d)) => {
                    backup::create_dir(d)?;
                    backup::new_name(d, now)
                }
                (None, None) => anyhow::bail!("give --dir DIR or --to FILE"),
            };
            let store = clicktrail_store_sqlite::SqliteStore::open(path)
                .with_context(|| format!("cannot open database {path}"))?;
            store
                .backup(&target)
                .await
                .map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
            backup::owner_only(&target)?;
            println!("backed up {path} to {}", target.display());
            if let (Some(d), Some(days)) = (&dir, keep_days) {
                for old in backup::prune(d, now, days, &target)? {
                    println!("removed {} (older than {days} days)", old.display());
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

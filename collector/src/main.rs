//! `clicktrail-collector`: the command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use clicktrail_collector::{app, AppState, Config, Store};
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
clicktrail-collector serve --config clicktrail.toml --db /var/lib/clicktrail/clicktrail.db --listen 0.0.0.0:8080\n\n\
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to change the level."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
struct Source {
    /// Configuration file (TOML) declaring tenants, affiliates, conversion types, keys.
    /// See collector/examples/clicktrail.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Use the built-in demo tenant `demo` (affiliates alice and bob, API key demo_secret_key,
    /// Stripe webhook secret whsec_demo). For trying clicktrail out only.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP collector.
    Serve {
        #[command(flatten)]
        source: Source,
        /// SQLite database file (created if missing).
        #[arg(long, value_name = "PATH", default_value = "./clicktrail.db")]
        db: String,
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory holding the built tracker (tracking.js, clicktrail_bg.wasm).
        #[arg(long, value_name = "DIR", default_value = "./dist")]
        dist: PathBuf,
        /// Directory served at / (demo site; dashboard.html is served at /dashboard).
        #[arg(long, value_name = "DIR", default_value = "./www")]
        www: PathBuf,
        /// Requests per second allowed per client IP (0 = no limit). Overrides the config
        /// file's `server.rate_limit_per_second` (default 100, burst 200).
        #[arg(long, value_name = "N")]
        rate_limit: Option<u32>,
    },
    /// Import transactions (sales) from a CSV file: all rows or none.
    ///
    /// Header: transaction_id, amount (e.g. 49.00) or amount_cents (e.g. 4900), and optionally
    /// currency, click_id, customer_key, created_at (RFC 3339 or YYYY-MM-DD), status,
    /// conversion_type, is_recurring, subscription_id. Bad rows are reported by line number and
    /// nothing is imported when any row is bad.
    ImportCsv {
        #[command(flatten)]
        source: Source,
        /// SQLite database file.
        #[arg(long, value_name = "PATH", default_value = "./clicktrail.db")]
        db: String,
        /// Tenant to import into (needed when the config declares several).
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// The CSV file.
        file: PathBuf,
    },
}

fn load(source: &Source) -> anyhow::Result<Config> {
    match (&source.config, source.demo) {
        (Some(path), _) => Config::load(path),
        (None, true) => Ok(Config::demo()),
        (None, false) => anyhow::bail!("give --config FILE or --demo"),
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
    let cli = Cli::parse();
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
            let mut config = load(&source)?;
            if let Some(r) = rate_limit {
                config.server.rate_limit_per_second = r;
            }
            let store = Store::open(&db).with_context(|| format!("cannot open database {db}"))?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let local = listener.local_addr()?;
            let demo = source.demo && source.config.is_none();
            let stats_store = store.clone();
            let state = AppState::new(config, store).with(|s| {
                s.dist_dir = dist.clone();
                s.www_dir = www.clone();
                s.demo = demo;
            });
            let _ = state.self_addr.set(local);
            tracing::info!(
                listen = %local,
                db = %db,
                tenants = state.config.tenants.len(),
                rate_limit_per_second = state.config.server.rate_limit_per_second,
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
                writeln!(out, "Demo mode (tenant `demo`, API key demo_secret_key, webhook secret whsec_demo; demo only)")?;
                writeln!(out, "  Demo affiliate link: http://{shown}/?aff=alice")?;
                writeln!(out, "  Dashboard:           http://{shown}/dashboard")?;
            }
            out.flush()?;
            let router = app(state);
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown())
            .await?;
            let (commits, jobs, max_batch) = stats_store.writer_stats();
            tracing::info!(
                commits,
                writes = jobs,
                mean_batch = format!("{:.1}", jobs as f64 / commits.max(1) as f64),
                max_batch,
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
            let tenant = match tenant {
                Some(id) => config
                    .tenant(&id)
                    .with_context(|| format!("unknown tenant `{id}`"))?
                    .clone(),
                None => match config.tenants.as_slice() {
                    [only] => only.clone(),
                    _ => anyhow::bail!("several tenants are configured: give --tenant ID"),
                },
            };
            let store = Store::open(&db).with_context(|| format!("cannot open database {db}"))?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let now = chrono::Utc::now().timestamp();
            match clicktrail_collector::import::import_file(&store, &tenant, f, now).await? {
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

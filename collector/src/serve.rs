//! The accept loop: hyper-util's server with the limits a public endpoint needs.
//!
//! - a request head must arrive within `header_read_timeout_secs`, which also closes idle
//!   keep-alive connections, so a silent client cannot hold a connection forever;
//! - at most `max_connections` are open (by default 64 below the process's file-descriptor
//!   limit): beyond it the loop stops accepting until one closes, instead of failing `accept`
//!   with EMFILE for everyone, `/healthz` included;
//! - on shutdown the listener closes at once, requests in flight may finish, and whatever is
//!   still open after `shutdown_grace_secs` is dropped: a slow client never stops a restart.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::client_ip::{client_ip, Forwarded};
use crate::config::ServerSettings;

/// File descriptors kept free for the database, logs and the process itself.
const FD_RESERVE: usize = 64;

/// The connection cap: the configured one, or the soft fd limit less a reserve.
pub fn max_connections(settings: &ServerSettings) -> usize {
    if settings.max_connections > 0 {
        return settings.max_connections;
    }
    let limit = fd_limit().unwrap_or(1024);
    limit.saturating_sub(FD_RESERVE).max(16)
}

fn fd_limit() -> Option<usize> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    (rc == 0).then(|| usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX))
}

/// Requests in flight and the last moment one started or ended, per connection.
struct Activity {
    in_flight: AtomicUsize,
    last: std::sync::Mutex<Instant>,
}

impl Activity {
    fn touch(&self) {
        if let Ok(mut t) = self.last.lock() {
            *t = Instant::now();
        }
    }
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.last.lock().map(|t| t.elapsed()).unwrap_or_default()
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains within the grace time.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = max_connections(settings);
    let permits = Arc::new(Semaphore::new(cap));
    let (stop_tx, stop_rx) = watch::channel(false);
    let idle_limit = Duration::from_secs(settings.header_read_timeout_secs);
    let trusted = Arc::new(settings.trusted_proxies.clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_limit)
        .keep_alive(true);
    tracing::debug!(max_connections = cap, "accepting");
    tokio::pin!(shutdown);
    let mut warned_full = false;
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        if permits.available_permits() == 0 && !warned_full {
            warned_full = true;
            tracing::warn!(
                max_connections = cap,
                "connection cap reached: new connections wait"
            );
        } else if permits.available_permits() > cap / 10 {
            warned_full = false;
        }
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last: std::sync::Mutex::new(Instant::now()),
        });
        let (a_in, a_out) = (activity.clone(), activity.clone());
        let trusted = trusted.clone();
        let svc = app
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                a_in.in_flight.fetch_add(1, Ordering::AcqRel);
                a_in.touch();
                // behind a trusted proxy, the forwarded client is the address everyone sees
                let ip = client_ip(peer.ip(), req.headers(), &trusted);
                let fwd = Forwarded::of(peer.ip(), req.headers(), &trusted);
                req.extensions_mut().insert(fwd);
                req.extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(SocketAddr::new(ip, peer.port())));
                req
            })
            .map_response(move |resp| {
                a_out.in_flight.fetch_sub(1, Ordering::AcqRel);
                a_out.touch();
                resp
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let mut tick = tokio::time::interval(idle_limit / 4);
            let mut closing = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = tick.tick(), if !closing => {
                        // no request for the head timeout (a silent or idle keep-alive client)
                        if activity.idle_for() >= idle_limit {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = cap - permits.available_permits();
    let deadline = Instant::now() + Duration::from_secs(settings.shutdown_grace_secs);
    while permits.available_permits() < cap {
        if Instant::now() >= deadline {
            tracing::warn!(
                grace_secs = settings.shutdown_grace_secs,
                still_open = cap - permits.available_permits(),
                "shutdown deadline passed: closing the connections still open"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(connections = open, "drained");
    Ok(())
}

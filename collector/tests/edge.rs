//! The edge against the real binary: slow and idle clients, the connection cap under
//! a low file-descriptor limit, and a 413 that a client who writes first can still read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_clicktrail-collector");

const CONFIG: &str = r#"
[server]
rate_limit_per_second = 0
header_read_timeout_secs = 2
shutdown_grace_secs = 2

[[tenants]]
id = "shop"
api_key = "sk_shop_0123456789"
allowed_origins = ["*"]
affiliates = ["alice"]
"#;

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The collector with `CONFIG`; `nofile`: a file-descriptor limit for the child.
fn start(nofile: Option<u64>) -> Server {
    start_with(CONFIG, nofile, None)
}

/// The collector with `config`; its stderr to `log` when given.
fn start_with(config: &str, nofile: Option<u64>, log: Option<&std::path::Path>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .arg("--db")
        .arg(dir.path().join("c.db"))
        .args(["--listen", &addr.to_string()])
        .args(["--dist", "/nonexistent", "--www", "/nonexistent"])
        .stdout(Stdio::null())
        .stderr(match log {
            Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            None => Stdio::null(),
        });
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn().expect("start the collector");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(addr, "/healthz", Duration::from_secs(1)).is_none() {
        assert!(Instant::now() < deadline, "collector did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        addr,
        _dir: dir,
    }
}

/// A GET on a new connection: the status, or `None` if no answer came within `wait`.
fn get(addr: SocketAddr, path: &str, wait: Duration) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, wait).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace().nth(1)?.parse().ok()
}

fn sigterm(child: &Child) {
    // SAFETY: kill with a pid we own
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_slow_client_does_not_stop_shutdown() {
    let mut srv = start(None);
    // a client in the middle of a request, sending its body one byte a second
    let mut slow = TcpStream::connect(srv.addr).unwrap();
    write!(
        slow,
        "POST /tracking/click/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let addr = srv.addr;
    let dribble = std::thread::spawn(move || {
        for _ in 0..30 {
            if slow.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    // and one that only connected
    let _idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    sigterm(&srv.child);
    assert!(
        wait_exit(&mut srv.child, Duration::from_secs(8)),
        "the collector was still running 8 s after SIGTERM"
    );
    eprintln!("exited {:?} after SIGTERM", asked.elapsed());
    drop(dribble);
}

#[test]
fn idle_connections_beyond_the_fd_limit_do_not_starve_healthz() {
    // 256 descriptors for the collector; 400 idle connections from here
    let srv = start(Some(256));
    let mut idle = Vec::new();
    for _ in 0..400 {
        match TcpStream::connect_timeout(&srv.addr, Duration::from_secs(2)) {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    assert!(idle.len() >= 300, "opened only {} connections", idle.len());
    // the idle ones are closed after the 2 s head timeout, so a new client is served soon
    let started = Instant::now();
    let mut status = None;
    while status.is_none() && started.elapsed() < Duration::from_secs(15) {
        status = get(srv.addr, "/healthz", Duration::from_secs(5));
    }
    assert_eq!(status, Some(200), "/healthz did not answer within 15 s");
    eprintln!(
        "/healthz answered after {:?} with 400 idle connections",
        started.elapsed()
    );
    drop(idle);
    assert_eq!(get(srv.addr, "/healthz", Duration::from_secs(5)), Some(200));
}

#[test]
fn a_client_that_writes_its_whole_body_first_reads_the_413() {
    let srv = start(None);
    let body = vec![b'x'; 300 * 1024];
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /tracking/click/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the answer is readable, not a reset");
    assert!(
        out.starts_with("HTTP/1.1 413"),
        "{}",
        &out[..out.len().min(200)]
    );
    assert!(out.contains("payload_too_large"), "{out}");
}

#[test]
fn a_silent_connection_is_closed_after_the_head_timeout() {
    let srv = start(None);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let took = started.elapsed();
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"));
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "closed after {took:?}"
    );
}

/// POST a click as a page on `origin` would; the status.
fn click(addr: SocketAddr, origin: &str, aff: &str) -> Option<u16> {
    let body = format!(r#"{{"tenantId":"shop","aff":"{aff}"}}"#);
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "POST /tracking/click/v1 HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn rejected_tracker_requests_are_logged_with_the_reason_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let config = CONFIG.replace(
        r#"allowed_origins = ["*"]"#,
        r#"allowed_origins = ["https://shop.example"]"#,
    );
    let mut srv = start_with(&config, None, Some(&log));
    for _ in 0..5 {
        assert_eq!(
            click(srv.addr, "https://shop.example", "mallory"),
            Some(404)
        );
        assert_eq!(click(srv.addr, "https://evil.example", "alice"), Some(403));
    }
    assert_eq!(click(srv.addr, "https://shop.example", "alice"), Some(200));
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("rejected tracker request"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per reason in the window: {text}");
    assert!(
        lines.iter().any(|l| l.contains("unknown_affiliate")
            && l.contains("mallory")
            && l.contains("https://shop.example")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("origin_not_allowed") && l.contains("https://evil.example")),
        "{text}"
    );
}

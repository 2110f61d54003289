//! Email: the installation's SMTP server (`[smtp]` in the config file) and the worker that
//! delivers the outbox's `email` messages through it.
//!
//! ```text
//! mod.rs     SmtpConfig (the `[smtp]` table)
//! worker.rs  the delivery loop: lease due messages, send with lettre, mark delivered or failed
//!            (domain `program::next_attempt`: exponential backoff, never given up)
//! ```
//!
//! Delivery is at least once: a message is marked delivered after the SMTP server accepted
//! it, so a collector that stops between the two sends it again after its lease runs out. A
//! message is queued once per dedupe key however often the fact behind it is retried.

use anyhow::{bail, Context};
use serde::Deserialize;

pub mod worker;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain, then STARTTLS, required (port 587).
    Starttls,
    /// No encryption: only for a relay on the same host or network (port 25, tests).
    None,
}

/// The `[smtp]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Acme Partners <partners@acme.example>`.
    pub from: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    host: String,
    port: Option<u16>,
    tls: Option<TlsMode>,
    username: Option<String>,
    /// The password, read from this file (the config file then holds no secret).
    password_file: Option<std::path::PathBuf>,
    password: Option<String>,
    from: String,
}

impl SmtpConfig {
    pub(crate) fn from_raw(r: RawSmtp) -> anyhow::Result<SmtpConfig> {
        if r.host.trim().is_empty() {
            bail!("[smtp] host must not be empty");
        }
        let tls = r.tls.unwrap_or(TlsMode::Starttls);
        let port = r.port.unwrap_or(match tls {
            TlsMode::Tls => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        if r.from.parse::<lettre::message::Mailbox>().is_err() {
            bail!(
                "[smtp] from: `{}` is not an address such as `Acme <partners@acme.example>`",
                r.from
            );
        }
        let password = match (r.password, r.password_file) {
            (Some(_), Some(_)) => bail!("[smtp] set password or password_file, not both"),
            (Some(p), None) => Some(p),
            (None, Some(f)) => Some(
                std::fs::read_to_string(&f)
                    .with_context(|| format!("[smtp] password_file {}", f.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            (None, None) => None,
        };
        if password.is_some() != r.username.is_some() {
            bail!("[smtp] set both username and a password, or neither");
        }
        Ok(SmtpConfig {
            host: r.host.trim().to_string(),
            port,
            tls,
            username: r.username,
            password,
            from: r.from,
        })
    }
}

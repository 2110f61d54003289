//! The outbox's email worker: every second it queues the new-commission and payout-sent
//! emails of what was recorded since its last round (use case `clicktrail_app::program::notify`),
//! leases the due `email` messages, sends each through the SMTP server, and records the
//! outcome. The SMTP server being down only
//! delays: the message stays in the database and is tried again with backoff.

use std::sync::Arc;
use std::time::Duration;

use clicktrail_domain::program::next_attempt;
use clicktrail_store::program::OutboxRow;
use clicktrail_store::Store;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{SmtpConfig, TlsMode};

/// A leased message belongs to this worker for this long (then another may take it).
const LEASE_SECS: i64 = 120;
/// Messages taken per round.
const BATCH: i64 = 20;
/// Accruals and payouts are told about once they are this old: a transaction still open with
/// a smaller id (PostgreSQL hands ids out before commit) is then committed, and not passed by.
const SETTLE_SECS: i64 = 60;
/// Accruals (and payouts) read per round.
const NOTICES_PER_ROUND: i64 = 500;
/// How long one SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

pub fn transport(c: &SmtpConfig) -> anyhow::Result<Transport> {
    let mut b = match c.tls {
        TlsMode::Tls => Transport::relay(&c.host)?,
        TlsMode::Starttls => Transport::starttls_relay(&c.host)?,
        TlsMode::None => Transport::builder_dangerous(&c.host),
    }
    .port(c.port)
    .timeout(Some(SMTP_TIMEOUT));
    if let (Some(u), Some(p)) = (&c.username, &c.password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.build())
}

fn message(from: &Mailbox, m: &OutboxRow) -> anyhow::Result<Message> {
    Ok(Message::builder()
        .from(from.clone())
        .to(m.recipient.parse()?)
        .subject(&m.subject)
        // the dedupe key makes a resent copy recognisable to the receiving side
        .message_id(Some(format!(
            "<outbox-{}.{}@clicktrail>",
            m.id,
            hex_of(&m.dedupe_key)
        )))
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())?)
}

fn hex_of(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// Sends what is due once; the number delivered.
pub async fn deliver_due(
    store: &dyn Store,
    smtp: &Transport,
    from: &Mailbox,
    now: i64,
) -> anyhow::Result<usize> {
    let due = store
        .program()
        .outbox_claim("email", now, LEASE_SECS, BATCH)
        .await?;
    let mut sent = 0;
    for m in due {
        let result = match message(from, &m) {
            Ok(msg) => smtp.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                store
                    .program()
                    .outbox_delivered(m.id, chrono::Utc::now().timestamp())
                    .await?;
                sent += 1;
                tracing::info!(id = m.id, key = %m.dedupe_key, "email delivered");
            }
            Err(e) => {
                let next = next_attempt(chrono::Utc::now().timestamp(), m.attempts + 1);
                tracing::warn!(id = m.id, key = %m.dedupe_key, attempts = m.attempts + 1,
                    next_attempt_at = next, error = %e, "email not delivered; will retry");
                store.program().outbox_failed(m.id, &e, next).await?;
            }
        }
    }
    Ok(sent)
}

/// Starts the worker (runs until the process ends).
pub fn spawn(store: Arc<dyn Store>, config: SmtpConfig) -> anyhow::Result<()> {
    let smtp = transport(&config)?;
    let from: Mailbox = config.from.parse()?;
    tracing::info!(host = %config.host, port = config.port, tls = ?config.tls, "email worker started");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = chrono::Utc::now().timestamp();
            match store
                .program()
                .queue_notices(now - SETTLE_SECS, now, NOTICES_PER_ROUND)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(queued = n, "commission / payout emails queued"),
                Err(e) => tracing::warn!(error = %e, "queueing commission / payout emails failed"),
            }
            if let Err(e) =
                deliver_due(store.as_ref(), &smtp, &from, chrono::Utc::now().timestamp()).await
            {
                tracing::warn!(error = %e, "email worker round failed");
            }
        }
    });
    Ok(())
}

//! The schema, versioned: `schema_version` holds the version; migrations run in order at start,
//! each in its own transaction. A database newer than this build is refused.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

pub(crate) const MIGRATIONS: &[&str] = &[
    // v1
    r#"
    CREATE TABLE cids (
        tenant TEXT NOT NULL, cid TEXT NOT NULL, affiliate TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, cid)) WITHOUT ROWID;
    CREATE TABLE clicks (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, cid TEXT NOT NULL, affiliate TEXT NOT NULL,
        url TEXT, referrer TEXT, created_at INTEGER NOT NULL);
    CREATE INDEX clicks_tenant_time ON clicks (tenant, created_at);
    CREATE TABLE customer_links (
        tenant TEXT NOT NULL, customer_key TEXT NOT NULL, cid TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, customer_key)) WITHOUT ROWID;
    CREATE TABLE external_links (
        tenant TEXT NOT NULL, revenue_origin TEXT NOT NULL, external_cid TEXT NOT NULL, cid TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, revenue_origin, external_cid)) WITHOUT ROWID;
    CREATE TABLE leads (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, customer_key TEXT, cid TEXT, affiliate TEXT,
        email TEXT, source TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE UNIQUE INDEX leads_customer ON leads (tenant, customer_key) WHERE customer_key IS NOT NULL;
    CREATE INDEX leads_tenant_time ON leads (tenant, created_at);
    CREATE TABLE conversions (
        id INTEGER PRIMARY KEY, public_id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
        kind TEXT NOT NULL, conversion_type TEXT NOT NULL, external_id TEXT, transaction_id TEXT,
        cid TEXT, affiliate TEXT, attributed INTEGER NOT NULL,
        amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, commission_cents INTEGER NOT NULL,
        status TEXT NOT NULL, customer_key TEXT, customer_id TEXT, is_recurring INTEGER NOT NULL DEFAULT 0,
        subscription_id TEXT, source TEXT NOT NULL, details TEXT, created_at INTEGER NOT NULL);
    CREATE UNIQUE INDEX conversions_external ON conversions (tenant, conversion_type, external_id)
        WHERE external_id IS NOT NULL;
    CREATE UNIQUE INDEX conversions_txn ON conversions (tenant, transaction_id)
        WHERE transaction_id IS NOT NULL;
    CREATE INDEX conversions_tenant_time ON conversions (tenant, created_at);
    CREATE INDEX conversions_subscription ON conversions (tenant, subscription_id)
        WHERE subscription_id IS NOT NULL;
    CREATE TABLE commissions (
        id INTEGER PRIMARY KEY, conversion_id INTEGER NOT NULL, tenant TEXT NOT NULL,
        affiliate TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
        created_at INTEGER NOT NULL);
    CREATE TABLE events (
        tenant TEXT NOT NULL, event_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, event_id)) WITHOUT ROWID;
    CREATE INDEX events_time ON events (created_at);
    CREATE TABLE stripe_events (
        tenant TEXT NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, event_id)) WITHOUT ROWID;
    CREATE TABLE diagnostics (
        id INTEGER PRIMARY KEY, tenant TEXT, kind TEXT, message TEXT, url TEXT, user_agent TEXT,
        created_at INTEGER NOT NULL);
    "#,
    // v2: the commission ledger and the catalog in the database.
    // Existing commissions become accruals with the same ids, approved at once (they predate
    // holds); nothing is lost.
    r#"
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, affiliate TEXT NOT NULL,
        conversion_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('accrual', 'reversal', 'adjustment')),
        amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, available_at INTEGER NOT NULL,
        reason TEXT, created_at INTEGER NOT NULL);
    INSERT INTO ledger (id, tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at)
        SELECT id, tenant, affiliate, conversion_id, 'accrual', amount_cents, currency, created_at, created_at
        FROM commissions ORDER BY id;
    DROP TABLE commissions;
    CREATE INDEX ledger_conversion ON ledger (conversion_id);
    CREATE INDEX ledger_tenant_affiliate ON ledger (tenant, affiliate);
    CREATE TABLE payouts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, affiliate TEXT NOT NULL,
        amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, through TEXT NOT NULL,
        created_at INTEGER NOT NULL);
    CREATE TABLE payout_lines (entry_id INTEGER PRIMARY KEY, payout_id INTEGER NOT NULL);

    CREATE TABLE tenants (
        id TEXT PRIMARY KEY, cookie_days INTEGER NOT NULL, currency TEXT NOT NULL,
        sale_conversion_type TEXT NOT NULL, stripe_webhook_secret TEXT NOT NULL,
        hold_days INTEGER NOT NULL DEFAULT 30, count_test_payments INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE TABLE affiliates (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, code TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, UNIQUE (tenant, code));
    CREATE TABLE conversion_types (
        tenant TEXT NOT NULL, code TEXT NOT NULL,
        payout_kind TEXT NOT NULL CHECK (payout_kind IN ('fixed', 'percent')),
        payout_value INTEGER NOT NULL, PRIMARY KEY (tenant, code)) WITHOUT ROWID;
    CREATE TABLE revenue_origins (
        tenant TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;
    CREATE TABLE allowed_origins (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, origin TEXT NOT NULL,
        UNIQUE (tenant, origin));
    CREATE TABLE api_keys (
        key_hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, scopes TEXT NOT NULL, label TEXT,
        created_at INTEGER NOT NULL, revoked_at INTEGER) WITHOUT ROWID;
    CREATE TABLE catalog_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
    INSERT INTO catalog_version (id, version) VALUES (1, 0);
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT, actor TEXT NOT NULL, action TEXT NOT NULL,
        detail TEXT, created_at INTEGER NOT NULL);
    "#,
    // v3: refunds, one row per refund id; payout lines found by payout.
    r#"
    CREATE TABLE refunds (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, refund_id TEXT NOT NULL,
        conversion_id INTEGER NOT NULL, transaction_id TEXT NOT NULL,
        requested_cents INTEGER, amount_cents INTEGER NOT NULL, reason TEXT,
        commission_reversed_cents INTEGER NOT NULL, ledger_entry_id INTEGER,
        created_at INTEGER NOT NULL, UNIQUE (tenant, refund_id));
    CREATE INDEX refunds_conversion ON refunds (conversion_id);
    CREATE INDEX payout_lines_payout ON payout_lines (payout_id);
    "#,
    // v4: Stripe money: the ids a sale keeps to match later
    // events, test mode, holds; the latest state of each refund / charge / dispute heard of;
    // free-trial links. Existing rows keep everything; their Stripe invoice ids are filled in
    // from their transaction ids.
    r#"
    ALTER TABLE conversions ADD COLUMN stripe_payment_intent TEXT;
    ALTER TABLE conversions ADD COLUMN stripe_charge TEXT;
    ALTER TABLE conversions ADD COLUMN stripe_invoice TEXT;
    ALTER TABLE conversions ADD COLUMN stripe_customer TEXT;
    ALTER TABLE conversions ADD COLUMN livemode INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE conversions ADD COLUMN held_payment INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversions ADD COLUMN held_dispute INTEGER NOT NULL DEFAULT 0;
    UPDATE conversions SET stripe_invoice = substr(transaction_id, 8)
        WHERE source = 'stripe' AND transaction_id LIKE 'stripe:in\_%' ESCAPE '\';
    CREATE INDEX conversions_stripe_pi ON conversions (tenant, stripe_payment_intent)
        WHERE stripe_payment_intent IS NOT NULL;
    CREATE INDEX conversions_stripe_charge ON conversions (tenant, stripe_charge)
        WHERE stripe_charge IS NOT NULL;
    CREATE INDEX conversions_stripe_invoice ON conversions (tenant, stripe_invoice)
        WHERE stripe_invoice IS NOT NULL;
    CREATE TABLE stripe_facts (
        tenant TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
        payment_intent TEXT, charge TEXT, invoice TEXT,
        amount_cents INTEGER NOT NULL, state TEXT NOT NULL,
        event_created INTEGER NOT NULL, object_created INTEGER NOT NULL, event_id TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, key)) WITHOUT ROWID;
    CREATE INDEX stripe_facts_pi ON stripe_facts (tenant, payment_intent) WHERE payment_intent IS NOT NULL;
    CREATE INDEX stripe_facts_charge ON stripe_facts (tenant, charge) WHERE charge IS NOT NULL;
    CREATE INDEX stripe_facts_invoice ON stripe_facts (tenant, invoice) WHERE invoice IS NOT NULL;
    CREATE TABLE stripe_links (
        tenant TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('subscription', 'customer')),
        stripe_id TEXT NOT NULL, cid TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, kind, stripe_id)) WITHOUT ROWID;
    "#,
    // v5: affiliate portal links, stored hashed; at most one live link per affiliate.
    r#"
    CREATE TABLE portal_links (
        token_hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, affiliate TEXT NOT NULL,
        created_at INTEGER NOT NULL, revoked_at INTEGER) WITHOUT ROWID;
    CREATE UNIQUE INDEX portal_links_live ON portal_links (tenant, affiliate) WHERE revoked_at IS NULL;
    CREATE INDEX payouts_affiliate ON payouts (tenant, affiliate);
    CREATE INDEX conversions_affiliate ON conversions (tenant, affiliate, id);
    "#,
    // v6: the admin API: affiliate names; the audit log, diagnostics and refunds
    // read per tenant, newest first.
    r#"
    ALTER TABLE affiliates ADD COLUMN name TEXT;
    CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
    CREATE INDEX diagnostics_tenant ON diagnostics (tenant, id);
    CREATE INDEX refunds_tenant_time ON refunds (tenant, created_at);
    "#,
    // v7: billing webhooks (issue 11): each tenant's Chargebee Basic credentials and Recurly
    // signing key (empty: that webhook route answers 404 for the tenant).
    r#"
    ALTER TABLE tenants ADD COLUMN chargebee_webhook_username TEXT NOT NULL DEFAULT '';
    ALTER TABLE tenants ADD COLUMN chargebee_webhook_password TEXT NOT NULL DEFAULT '';
    ALTER TABLE tenants ADD COLUMN recurly_webhook_key TEXT NOT NULL DEFAULT '';
    "#,
    // v8: affiliate aliases: further codes of an affiliate, e.g. PartnerStack
    // partner keys. An alias is never also an affiliate code (checked by the catalog change).
    r#"
    CREATE TABLE affiliate_aliases (
        tenant TEXT NOT NULL, alias TEXT NOT NULL, code TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, alias)) WITHOUT ROWID;
    "#,
    // v9: the configuration file manages what it declares (0 = not declared by it,
    // 1 = declared, 2 = removed from it and disabled); a tenant can be disabled
    r#"
    ALTER TABLE tenants ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tenants ADD COLUMN config_state INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE affiliates ADD COLUMN config_state INTEGER NOT NULL DEFAULT 0;
    "#,
    // v10: personal data (docs/privacy.md): the installation's pseudonym secret for erasures,
    // each tenant's retention, leads found by email
    r#"
    CREATE TABLE privacy_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret TEXT NOT NULL);
    CREATE TABLE retention (
        tenant TEXT PRIMARY KEY, event_days INTEGER, click_url_days INTEGER,
        diagnostic_days INTEGER, updated_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX leads_email ON leads (tenant, email COLLATE NOCASE) WHERE email IS NOT NULL;
    "#,
    // v11: the affiliate program: applications, per-tenant settings, payout details an
    // affiliate maintains, and a generic outbox (one row per message, unique dedupe key).
    r#"
    CREATE TABLE applications (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, status TEXT NOT NULL,
        name TEXT NOT NULL, email TEXT NOT NULL, website TEXT, promotion TEXT NOT NULL,
        wished_code TEXT, affiliate TEXT, reason TEXT,
        created_at INTEGER NOT NULL, decided_at INTEGER);
    CREATE INDEX applications_tenant ON applications (tenant, id);
    CREATE INDEX applications_email ON applications (tenant, email);
    CREATE TABLE program_settings (
        tenant TEXT PRIMARY KEY, settings TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE payout_details (
        tenant TEXT NOT NULL, affiliate TEXT NOT NULL, method TEXT NOT NULL, address TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, affiliate)) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, channel TEXT NOT NULL, dedupe_key TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL, recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
        last_error TEXT, delivered_at INTEGER, created_at INTEGER NOT NULL);
    CREATE INDEX outbox_due ON outbox (channel, next_attempt_at) WHERE delivered_at IS NULL;
    CREATE INDEX outbox_tenant ON outbox (tenant, id);
    CREATE TABLE outbox_cursors (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
    "#,
    // v12: commission rules (issue 22): a tenant's rules document (JSON: per-affiliate and
    // per-product rates, the recurring limit, coupon codes, affiliate emails, the
    // self-referral setting; validated by the domain), and the rule that decided each accrual.
    r#"
    ALTER TABLE tenants ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE ledger ADD COLUMN rule TEXT;
    "#,
    // v13: billing (issue 20): each tenant's Recurly API key and base URL; refunds that arrived
    // before their payment, applied when the payment is recorded; other names of a sale a
    // provider's refund may use (Chargebee: the paid invoice).
    r#"
    ALTER TABLE tenants ADD COLUMN recurly_api_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE tenants ADD COLUMN recurly_api_url TEXT NOT NULL DEFAULT '';
    CREATE TABLE pending_refunds (
        tenant TEXT NOT NULL, refund_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
        amount_cents INTEGER, reason TEXT, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, refund_id)) WITHOUT ROWID;
    CREATE INDEX pending_refunds_transaction ON pending_refunds (tenant, transaction_id);
    CREATE TABLE refund_aliases (
        tenant TEXT NOT NULL, alias TEXT NOT NULL, transaction_id TEXT NOT NULL,
        PRIMARY KEY (tenant, alias)) WITHOUT ROWID;
    "#,
    // v14: outgoing webhooks: each tenant's endpoints (the signing secret stored to sign);
    // deliveries are outbox rows of channel `webhook` whose recipient is the endpoint id.
    r#"
    CREATE TABLE webhook_endpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, url TEXT NOT NULL,
        events TEXT NOT NULL, secret TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT, failing_since INTEGER,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant, id);
    CREATE INDEX outbox_recipient ON outbox (channel, recipient, id);
    "#,
    // v15: Chargify / Maxio Advanced Billing (issue 20): each tenant's site shared key, the
    // HMAC key its webhooks are signed with (kept readable: the signature is computed with it).
    r#"
    ALTER TABLE tenants ADD COLUMN chargify_webhook_key TEXT NOT NULL DEFAULT '';
    "#,
];

/// How long a connection waits for a lock before it answers "busy".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn configure(conn: &Connection, memory: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if !memory {
        // WAL + synchronous=FULL: every COMMIT is fsync'd to the WAL before it returns.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidQuery);
        }
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
    )?;
    Ok(())
}

pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let target = MIGRATIONS.len() as i64;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let v = i as i64 + 1;
        if v <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [v])?;
        tx.commit()?;
        tracing::info!(version = v, "applied schema migration");
    }
    Ok(target.max(current))
}


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
    
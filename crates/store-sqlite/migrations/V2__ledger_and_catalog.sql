
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
    
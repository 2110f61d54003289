
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
    
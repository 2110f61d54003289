
    CREATE TABLE webhook_endpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, url TEXT NOT NULL,
        events TEXT NOT NULL, secret TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT, failing_since INTEGER,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant, id);
    CREATE INDEX outbox_recipient ON outbox (channel, recipient, id);
    
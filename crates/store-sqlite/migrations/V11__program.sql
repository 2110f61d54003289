
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
    
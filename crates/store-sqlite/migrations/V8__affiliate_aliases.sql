
    CREATE TABLE affiliate_aliases (
        tenant TEXT NOT NULL, alias TEXT NOT NULL, code TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, alias)) WITHOUT ROWID;
    

    CREATE TABLE privacy_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret TEXT NOT NULL);
    CREATE TABLE retention (
        tenant TEXT PRIMARY KEY, event_days INTEGER, click_url_days INTEGER,
        diagnostic_days INTEGER, updated_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX leads_email ON leads (tenant, email COLLATE NOCASE) WHERE email IS NOT NULL;
    
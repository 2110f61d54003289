
    CREATE TABLE portal_links (
        token_hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, affiliate TEXT NOT NULL,
        created_at INTEGER NOT NULL, revoked_at INTEGER) WITHOUT ROWID;
    CREATE UNIQUE INDEX portal_links_live ON portal_links (tenant, affiliate) WHERE revoked_at IS NULL;
    CREATE INDEX payouts_affiliate ON payouts (tenant, affiliate);
    CREATE INDEX conversions_affiliate ON conversions (tenant, affiliate, id);
    
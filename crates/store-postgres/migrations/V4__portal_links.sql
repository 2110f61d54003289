-- affiliate portal links (SPEC §14), stored hashed; at most one live link per affiliate.
CREATE TABLE portal_links (
    token_hash text PRIMARY KEY, tenant text NOT NULL, affiliate text NOT NULL,
    created_at bigint NOT NULL, revoked_at bigint);
CREATE UNIQUE INDEX portal_links_live ON portal_links (tenant, affiliate) WHERE revoked_at IS NULL;
CREATE INDEX payouts_affiliate ON payouts (tenant, affiliate);
CREATE INDEX conversions_affiliate ON conversions (tenant, affiliate, id);

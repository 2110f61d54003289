-- clicktrail on PostgreSQL: the same tables and columns as the SQLite schema (its v1 + v2),
-- with PostgreSQL types. Times are unix seconds (bigint); money is integer cents (bigint).

CREATE TABLE cids (
    tenant text NOT NULL, cid text NOT NULL, affiliate text NOT NULL,
    created_at bigint NOT NULL, expires_at bigint NOT NULL,
    PRIMARY KEY (tenant, cid));

CREATE TABLE clicks (
    id bigserial PRIMARY KEY, tenant text NOT NULL, cid text NOT NULL, affiliate text NOT NULL,
    url text, referrer text, created_at bigint NOT NULL);
CREATE INDEX clicks_tenant_time ON clicks (tenant, created_at);

CREATE TABLE customer_links (
    tenant text NOT NULL, customer_key text NOT NULL, cid text NOT NULL, created_at bigint NOT NULL,
    PRIMARY KEY (tenant, customer_key));

CREATE TABLE external_links (
    tenant text NOT NULL, revenue_origin text NOT NULL, external_cid text NOT NULL, cid text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant, revenue_origin, external_cid));

CREATE TABLE leads (
    id bigserial PRIMARY KEY, tenant text NOT NULL, customer_key text, cid text, affiliate text,
    email text, source text NOT NULL, created_at bigint NOT NULL);
CREATE UNIQUE INDEX leads_customer ON leads (tenant, customer_key) WHERE customer_key IS NOT NULL;
-- one lead per CID when no customer key is given (a retried call is not a second lead)
CREATE UNIQUE INDEX leads_cid_only ON leads (tenant, cid) WHERE customer_key IS NULL;
CREATE INDEX leads_tenant_time ON leads (tenant, created_at);

CREATE TABLE conversions (
    id bigserial PRIMARY KEY, public_id text NOT NULL UNIQUE, tenant text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('conversion', 'sale')),
    conversion_type text NOT NULL, external_id text, transaction_id text,
    cid text, affiliate text, attributed boolean NOT NULL,
    amount_cents bigint NOT NULL, currency text NOT NULL, commission_cents bigint NOT NULL,
    status text NOT NULL, customer_key text, customer_id text,
    is_recurring boolean NOT NULL DEFAULT false,
    subscription_id text, source text NOT NULL, details text, created_at bigint NOT NULL);
CREATE UNIQUE INDEX conversions_external ON conversions (tenant, conversion_type, external_id)
    WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX conversions_txn ON conversions (tenant, transaction_id)
    WHERE transaction_id IS NOT NULL;
CREATE INDEX conversions_tenant_time ON conversions (tenant, created_at);
CREATE INDEX conversions_subscription ON conversions (tenant, subscription_id)
    WHERE subscription_id IS NOT NULL;

-- the commission ledger (SPEC §13): append-only signed entries
CREATE TABLE ledger (
    id bigserial PRIMARY KEY, tenant text NOT NULL, affiliate text NOT NULL,
    conversion_id bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('accrual', 'reversal', 'adjustment')),
    amount_cents bigint NOT NULL, currency text NOT NULL, available_at bigint NOT NULL,
    reason text, created_at bigint NOT NULL);
CREATE INDEX ledger_conversion ON ledger (conversion_id);
CREATE INDEX ledger_tenant_affiliate ON ledger (tenant, affiliate);

CREATE TABLE payouts (
    id bigserial PRIMARY KEY, tenant text NOT NULL, affiliate text NOT NULL,
    amount_cents bigint NOT NULL, currency text NOT NULL, through text NOT NULL,
    created_at bigint NOT NULL);
CREATE TABLE payout_lines (entry_id bigint PRIMARY KEY, payout_id bigint NOT NULL);

-- browser event ids: claimed with body NULL, the answer stored in the same transaction
CREATE TABLE events (
    tenant text NOT NULL, event_id text NOT NULL, kind text NOT NULL, body text,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant, event_id));
CREATE INDEX events_time ON events (created_at);

CREATE TABLE stripe_events (
    tenant text NOT NULL, event_id text NOT NULL, type text NOT NULL, created_at bigint NOT NULL,
    PRIMARY KEY (tenant, event_id));

CREATE TABLE diagnostics (
    id bigserial PRIMARY KEY, tenant text, kind text, message text, url text, user_agent text,
    created_at bigint NOT NULL);
-- the per-tenant cap finds a tenant's newest rows (no tenant = '')
CREATE INDEX diagnostics_tenant_id ON diagnostics ((coalesce(tenant, '')), id);

-- the catalog (SPEC §12)
CREATE TABLE tenants (
    id text PRIMARY KEY, cookie_days bigint NOT NULL, currency text NOT NULL,
    sale_conversion_type text NOT NULL, stripe_webhook_secret text NOT NULL,
    hold_days bigint NOT NULL DEFAULT 30, count_test_payments boolean NOT NULL DEFAULT false,
    created_at bigint NOT NULL, updated_at bigint NOT NULL);
CREATE TABLE affiliates (
    seq bigserial PRIMARY KEY, tenant text NOT NULL, code text NOT NULL,
    disabled boolean NOT NULL DEFAULT false, created_at bigint NOT NULL, UNIQUE (tenant, code));
CREATE TABLE conversion_types (
    tenant text NOT NULL, code text NOT NULL,
    payout_kind text NOT NULL CHECK (payout_kind IN ('fixed', 'percent')),
    payout_value bigint NOT NULL, PRIMARY KEY (tenant, code));
CREATE TABLE revenue_origins (
    tenant text NOT NULL, id text NOT NULL, PRIMARY KEY (tenant, id));
CREATE TABLE allowed_origins (
    seq bigserial PRIMARY KEY, tenant text NOT NULL, origin text NOT NULL,
    UNIQUE (tenant, origin));
CREATE TABLE api_keys (
    key_hash text PRIMARY KEY, tenant text NOT NULL, scopes text NOT NULL, label text,
    created_at bigint NOT NULL, revoked_at bigint);
CREATE TABLE catalog_version (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
INSERT INTO catalog_version (id, version) VALUES (1, 0);
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY, tenant text, actor text NOT NULL, action text NOT NULL,
    detail text, created_at bigint NOT NULL);

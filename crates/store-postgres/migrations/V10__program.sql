-- the affiliate program: applications, per-tenant settings, payout details an affiliate
-- maintains, and a generic outbox (one row per message, unique dedupe key)
CREATE TABLE applications (
    id bigserial PRIMARY KEY, tenant text NOT NULL, status text NOT NULL,
    name text NOT NULL, email text NOT NULL, website text, promotion text NOT NULL,
    wished_code text, affiliate text, reason text,
    created_at bigint NOT NULL, decided_at bigint);
CREATE INDEX applications_tenant ON applications (tenant, id);
CREATE INDEX applications_email ON applications (tenant, email);
CREATE TABLE program_settings (
    tenant text PRIMARY KEY, settings text NOT NULL, updated_at bigint NOT NULL);
CREATE TABLE payout_details (
    tenant text NOT NULL, affiliate text NOT NULL, method text NOT NULL, address text NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (tenant, affiliate));
CREATE TABLE outbox (
    id bigserial PRIMARY KEY, channel text NOT NULL, dedupe_key text NOT NULL UNIQUE,
    tenant text NOT NULL, recipient text NOT NULL, subject text NOT NULL, body text NOT NULL,
    attempts bigint NOT NULL DEFAULT 0, next_attempt_at bigint NOT NULL,
    last_error text, delivered_at bigint, created_at bigint NOT NULL);
CREATE INDEX outbox_due ON outbox (channel, next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_tenant ON outbox (tenant, id);
-- how far the commission / payout emails have read the ledger and the payouts
CREATE TABLE outbox_cursors (name text PRIMARY KEY, position bigint NOT NULL);

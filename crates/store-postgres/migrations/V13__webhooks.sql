-- outgoing webhooks: each tenant's endpoints (the signing secret stored to sign); deliveries
-- are outbox rows of channel 'webhook' whose recipient is the endpoint id
CREATE TABLE webhook_endpoints (
    id bigserial PRIMARY KEY, tenant text NOT NULL, url text NOT NULL,
    events text NOT NULL, secret text NOT NULL, enabled boolean NOT NULL DEFAULT true,
    disabled_reason text, failing_since bigint,
    created_at bigint NOT NULL, updated_at bigint NOT NULL);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant, id);
CREATE INDEX outbox_recipient ON outbox (channel, recipient, id);

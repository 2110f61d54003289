-- billing (issue 20): each tenant's Recurly API key and base URL; refunds that arrived before
-- their payment, applied when the payment is recorded
ALTER TABLE tenants ADD COLUMN recurly_api_key text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN recurly_api_url text NOT NULL DEFAULT '';
CREATE TABLE pending_refunds (
    tenant text NOT NULL,
    refund_id text NOT NULL,
    transaction_id text NOT NULL,
    amount_cents bigint,
    reason text,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant, refund_id)
);
CREATE INDEX pending_refunds_transaction ON pending_refunds (tenant, transaction_id);
-- another name of a sale a provider's refund may use (Chargebee: the paid invoice)
CREATE TABLE refund_aliases (
    tenant text NOT NULL,
    alias text NOT NULL,
    transaction_id text NOT NULL,
    PRIMARY KEY (tenant, alias)
);

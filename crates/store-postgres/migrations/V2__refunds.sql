-- refunds (SPEC §13): one row per (tenant, refund_id); a retry is answered from it.
CREATE TABLE refunds (
    id bigserial PRIMARY KEY, tenant text NOT NULL, refund_id text NOT NULL,
    conversion_id bigint NOT NULL, transaction_id text NOT NULL,
    requested_cents bigint, amount_cents bigint NOT NULL, reason text,
    commission_reversed_cents bigint NOT NULL, ledger_entry_id bigint,
    created_at bigint NOT NULL, UNIQUE (tenant, refund_id));
CREATE INDEX refunds_conversion ON refunds (conversion_id);
-- a payout's lines, read back by payout
CREATE INDEX payout_lines_payout ON payout_lines (payout_id);

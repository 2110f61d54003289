-- Stripe money (SPEC §13 "Stripe", issue 9): the ids a sale keeps to match later events,
-- test mode, holds; the latest state of each refund / charge / dispute heard of; free-trial
-- links. Existing rows keep everything; their Stripe invoice ids are filled in from their
-- transaction ids.
ALTER TABLE conversions
    ADD COLUMN stripe_payment_intent text,
    ADD COLUMN stripe_charge text,
    ADD COLUMN stripe_invoice text,
    ADD COLUMN stripe_customer text,
    ADD COLUMN livemode boolean NOT NULL DEFAULT true,
    ADD COLUMN held_payment boolean NOT NULL DEFAULT false,
    ADD COLUMN held_dispute boolean NOT NULL DEFAULT false;
UPDATE conversions SET stripe_invoice = substr(transaction_id, 8)
    WHERE source = 'stripe' AND transaction_id LIKE 'stripe:in\_%';
CREATE INDEX conversions_stripe_pi ON conversions (tenant, stripe_payment_intent)
    WHERE stripe_payment_intent IS NOT NULL;
CREATE INDEX conversions_stripe_charge ON conversions (tenant, stripe_charge)
    WHERE stripe_charge IS NOT NULL;
CREATE INDEX conversions_stripe_invoice ON conversions (tenant, stripe_invoice)
    WHERE stripe_invoice IS NOT NULL;
CREATE TABLE stripe_facts (
    tenant text NOT NULL, kind text NOT NULL, key text NOT NULL,
    payment_intent text, charge text, invoice text,
    amount_cents bigint NOT NULL, state text NOT NULL,
    event_created bigint NOT NULL, object_created bigint NOT NULL, event_id text NOT NULL,
    PRIMARY KEY (tenant, kind, key));
CREATE INDEX stripe_facts_pi ON stripe_facts (tenant, payment_intent) WHERE payment_intent IS NOT NULL;
CREATE INDEX stripe_facts_charge ON stripe_facts (tenant, charge) WHERE charge IS NOT NULL;
CREATE INDEX stripe_facts_invoice ON stripe_facts (tenant, invoice) WHERE invoice IS NOT NULL;
CREATE TABLE stripe_links (
    tenant text NOT NULL, kind text NOT NULL CHECK (kind IN ('subscription', 'customer')),
    stripe_id text NOT NULL, cid text NOT NULL, created_at bigint NOT NULL,
    PRIMARY KEY (tenant, kind, stripe_id));


    ALTER TABLE conversions ADD COLUMN stripe_payment_intent TEXT;
    ALTER TABLE conversions ADD COLUMN stripe_charge TEXT;
    ALTER TABLE conversions ADD COLUMN stripe_invoice TEXT;
    ALTER TABLE conversions ADD COLUMN stripe_customer TEXT;
    ALTER TABLE conversions ADD COLUMN livemode INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE conversions ADD COLUMN held_payment INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversions ADD COLUMN held_dispute INTEGER NOT NULL DEFAULT 0;
    UPDATE conversions SET stripe_invoice = substr(transaction_id, 8)
        WHERE source = 'stripe' AND transaction_id LIKE 'stripe:in\_%' ESCAPE '\';
    CREATE INDEX conversions_stripe_pi ON conversions (tenant, stripe_payment_intent)
        WHERE stripe_payment_intent IS NOT NULL;
    CREATE INDEX conversions_stripe_charge ON conversions (tenant, stripe_charge)
        WHERE stripe_charge IS NOT NULL;
    CREATE INDEX conversions_stripe_invoice ON conversions (tenant, stripe_invoice)
        WHERE stripe_invoice IS NOT NULL;
    CREATE TABLE stripe_facts (
        tenant TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
        payment_intent TEXT, charge TEXT, invoice TEXT,
        amount_cents INTEGER NOT NULL, state TEXT NOT NULL,
        event_created INTEGER NOT NULL, object_created INTEGER NOT NULL, event_id TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, key)) WITHOUT ROWID;
    CREATE INDEX stripe_facts_pi ON stripe_facts (tenant, payment_intent) WHERE payment_intent IS NOT NULL;
    CREATE INDEX stripe_facts_charge ON stripe_facts (tenant, charge) WHERE charge IS NOT NULL;
    CREATE INDEX stripe_facts_invoice ON stripe_facts (tenant, invoice) WHERE invoice IS NOT NULL;
    CREATE TABLE stripe_links (
        tenant TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('subscription', 'customer')),
        stripe_id TEXT NOT NULL, cid TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, kind, stripe_id)) WITHOUT ROWID;
    
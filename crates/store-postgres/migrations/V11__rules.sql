-- Commission rules (issue 22): a tenant's rules document (JSON: per-affiliate and
-- per-product rates, the recurring limit, coupon codes, affiliate emails, the self-referral
-- setting; validated by the domain), and the rule that decided each accrual.
ALTER TABLE tenants ADD COLUMN rules text NOT NULL DEFAULT '{}';
ALTER TABLE ledger ADD COLUMN rule text;

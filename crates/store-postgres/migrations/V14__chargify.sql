-- Chargify / Maxio Advanced Billing: each tenant's site shared key, the HMAC key its
-- webhooks are signed with (kept readable: the signature is computed with it)
ALTER TABLE tenants ADD COLUMN chargify_webhook_key text NOT NULL DEFAULT '';

-- billing webhooks (issue 11): each tenant's Chargebee Basic credentials and Recurly signing
-- key (empty: that webhook route answers 404 for the tenant)
ALTER TABLE tenants ADD COLUMN chargebee_webhook_username text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN chargebee_webhook_password text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN recurly_webhook_key text NOT NULL DEFAULT '';


    ALTER TABLE tenants ADD COLUMN chargebee_webhook_username TEXT NOT NULL DEFAULT '';
    ALTER TABLE tenants ADD COLUMN chargebee_webhook_password TEXT NOT NULL DEFAULT '';
    ALTER TABLE tenants ADD COLUMN recurly_webhook_key TEXT NOT NULL DEFAULT '';
    
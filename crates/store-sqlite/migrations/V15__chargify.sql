
    ALTER TABLE tenants ADD COLUMN chargify_webhook_key TEXT NOT NULL DEFAULT '';


    ALTER TABLE affiliates ADD COLUMN name TEXT;
    CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
    CREATE INDEX diagnostics_tenant ON diagnostics (tenant, id);
    CREATE INDEX refunds_tenant_time ON refunds (tenant, created_at);
    
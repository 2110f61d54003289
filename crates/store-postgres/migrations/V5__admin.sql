-- the admin API (SPEC §14): affiliate names; the audit log, diagnostics and refunds read per
-- tenant, newest first
ALTER TABLE affiliates ADD COLUMN name text;
CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
CREATE INDEX refunds_tenant_time ON refunds (tenant, created_at);

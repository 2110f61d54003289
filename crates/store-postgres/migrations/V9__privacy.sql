-- personal data (docs/privacy.md): the installation's pseudonym secret for erasures, each
-- tenant's retention, leads found by email (as SQLite's schema v10)
CREATE TABLE privacy_secret (id int PRIMARY KEY CHECK (id = 1), secret text NOT NULL);
CREATE TABLE retention (
    tenant text PRIMARY KEY, event_days integer, click_url_days integer,
    diagnostic_days integer, updated_at bigint NOT NULL);
CREATE INDEX leads_email ON leads (tenant, lower(email)) WHERE email IS NOT NULL;

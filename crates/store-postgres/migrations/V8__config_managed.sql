-- The configuration file manages what it declares: config_state 0 = not declared by it,
-- 1 = declared, 2 = removed from it and disabled (data kept). A tenant can be disabled.
ALTER TABLE tenants
    ADD COLUMN disabled boolean NOT NULL DEFAULT false,
    ADD COLUMN config_state smallint NOT NULL DEFAULT 0;
ALTER TABLE affiliates ADD COLUMN config_state smallint NOT NULL DEFAULT 0;

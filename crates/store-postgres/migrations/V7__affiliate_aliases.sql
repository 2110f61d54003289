-- affiliate aliases (SPEC §17): further codes of an affiliate, e.g. PartnerStack partner keys.
-- An alias is never also an affiliate code (checked by the catalog change, under the tenant's
-- row lock).
CREATE TABLE affiliate_aliases (
    tenant text NOT NULL, alias text NOT NULL, code text NOT NULL, created_at bigint NOT NULL,
    PRIMARY KEY (tenant, alias));


    -- One lead per (tenant, CID) when no customer key is given, as PostgreSQL's index of the
    -- same name: the lead upsert is then one statement on both backends. Keyless leads a
    -- database may already hold twice for one CID are merged first, into the first made
    -- (earliest created_at, then lowest id), the way the upsert would have kept them: the
    -- first affiliate known, the latest email known. No table refers to a lead's id.
    CREATE TEMP TABLE lead_ranks AS
        SELECT id, tenant, cid, affiliate, email,
               row_number() OVER (PARTITION BY tenant, cid ORDER BY created_at, id) AS n,
               count(*) OVER (PARTITION BY tenant, cid) AS size
        FROM leads WHERE customer_key IS NULL AND cid IS NOT NULL;
    DELETE FROM lead_ranks WHERE size = 1;
    CREATE INDEX temp.lead_ranks_group ON lead_ranks (tenant, cid, n);
    UPDATE leads SET
        affiliate = (SELECT r.affiliate FROM lead_ranks r
                     WHERE r.tenant = leads.tenant AND r.cid = leads.cid AND r.affiliate IS NOT NULL
                     ORDER BY r.n LIMIT 1),
        email = (SELECT r.email FROM lead_ranks r
                 WHERE r.tenant = leads.tenant AND r.cid = leads.cid AND r.email IS NOT NULL
                 ORDER BY r.n DESC LIMIT 1)
        WHERE id IN (SELECT id FROM lead_ranks WHERE n = 1);
    DELETE FROM leads WHERE id IN (SELECT id FROM lead_ranks WHERE n > 1);
    DROP TABLE lead_ranks;
    CREATE UNIQUE INDEX leads_cid_only ON leads (tenant, cid) WHERE customer_key IS NULL;

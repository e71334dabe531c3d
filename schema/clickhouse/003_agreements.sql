-- agreements: the consent history (tracker/model/tables.py AGREEMENTS),
-- deduplicated by aid the way events are by eid (see 001_events.sql).
CREATE TABLE IF NOT EXISTS {{table:agreements}} {{on_cluster}} (
    aid        UUID,
    created_at {{ts}},
    vid        Nullable(UUID),
    uid        Nullable(String),
    oid        Nullable(String),
    cflags     Int64,
    ip         Nullable(String),
    iphash     Nullable(String),
    country    {{lc_null}},
    region     Nullable(String),
    lang       {{lc_null}},
    url        Nullable(String),
    params     Nullable(String)
)
ENGINE = {{replacing:agreements}}
PARTITION BY toYYYYMM({{datetime:created_at}})
ORDER BY (toDate({{datetime:created_at}}), aid);

{{distributed:agreements:cityHash64(toString(coalesce(vid, aid)))}};

-- jurisdictions: privacy regulations and where they apply. A regulation applies
-- to a visitor whose country (ISO 3166-1 alpha-2) is in `countries` and, when
-- `regions` is not empty, whose region (ISO 3166-2, e.g. 'US-CA') is in `regions`.
-- `requires_consent`: events need the analytics consent bit (cflags & 4) before
-- cookies or identifiers are stored (opt-in); 0 means opt-out rules.
-- One row per regulation: an edit is a new row for the same regulation, which
-- replaces the old one (read with FINAL).
CREATE TABLE IF NOT EXISTS {{table:jurisdictions}} {{on_cluster}} (
    regulation       String,
    name             String,
    countries        Array(String),
    regions          Array(String),
    requires_consent UInt8,
    rules            Nullable(String)
)
ENGINE = {{replacing:jurisdictions}}
ORDER BY regulation;

{{distributed:jurisdictions:cityHash64(regulation)}};

-- Seed rows: the same as schema/duckdb/003_agreements.sql. Only regulations not
-- present yet are inserted, so this is idempotent and leaves an operator's own
-- edits alone; change seeds in a later numbered file. (insert_distributed_sync:
-- in cluster mode the rows are on their shard before a later load checks.)
INSERT INTO {{db}}.jurisdictions
SELECT * FROM (
    SELECT
        'GDPR' AS regulation,
        'EU General Data Protection Regulation' AS name,
        ['AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE',
         'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
         'IS', 'LI', 'NO'] AS countries,
        emptyArrayString() AS regions,
        1 AS requires_consent,
        '{"model":"opt-in","consent_for":["analytics","marketing"],"min_age":16,"rights":["access","erasure","portability","rectification","objection"]}' AS rules
    UNION ALL
    SELECT 'UK_GDPR', 'UK General Data Protection Regulation (with PECR)',
        ['GB'], emptyArrayString(), 1,
        '{"model":"opt-in","consent_for":["analytics","marketing"],"min_age":13,"rights":["access","erasure","portability","rectification","objection"]}'
    UNION ALL
    SELECT 'CCPA', 'California Consumer Privacy Act / California Privacy Rights Act',
        ['US'], ['US-CA'], 0,
        '{"model":"opt-out","honor_gpc":true,"opt_out_of":["sale","sharing"],"rights":["access","deletion","correction","opt-out"]}'
    UNION ALL
    SELECT 'LGPD', 'Lei Geral de Protecao de Dados (Brazil)',
        ['BR'], emptyArrayString(), 1,
        '{"model":"opt-in","consent_for":["analytics","marketing"],"rights":["access","deletion","portability","correction"]}'
    UNION ALL
    SELECT 'PIPEDA', 'Personal Information Protection and Electronic Documents Act (Canada)',
        ['CA'], emptyArrayString(), 0,
        '{"model":"implied","consent_for":["marketing"],"rights":["access","correction","withdraw_consent"]}'
)
WHERE regulation NOT IN (SELECT regulation FROM {{db}}.jurisdictions)
SETTINGS insert_distributed_sync = 1;

-- agreements: the consent history (tracker/model/tables.py AGREEMENTS).
-- No primary key: the sink deduplicates by aid (see tracker/sinks/duckdb.py).
CREATE TABLE IF NOT EXISTS agreements (
    aid        UUID      NOT NULL,
    created_at TIMESTAMP NOT NULL,
    vid        UUID,
    uid        VARCHAR,
    oid        VARCHAR,
    cflags     BIGINT    NOT NULL,
    ip         VARCHAR,
    iphash     VARCHAR,
    country    VARCHAR,
    region     VARCHAR,
    lang       VARCHAR,
    url        VARCHAR,
    params     JSON
);

-- jurisdictions: privacy regulations and where they apply. A regulation applies
-- to a visitor whose country (ISO 3166-1 alpha-2) is in `countries` and, when
-- `regions` is not empty, whose region (ISO 3166-2, e.g. 'US-CA') is in `regions`.
-- `requires_consent`: events need the analytics consent bit (cflags & 4) before
-- cookies or identifiers are stored (opt-in); false means opt-out rules.
CREATE TABLE IF NOT EXISTS jurisdictions (
    regulation       VARCHAR   PRIMARY KEY,
    name             VARCHAR   NOT NULL,
    countries        VARCHAR[] NOT NULL,
    regions          VARCHAR[] NOT NULL,
    requires_consent BOOLEAN   NOT NULL,
    rules            JSON
);

-- Seed rows. ON CONFLICT DO NOTHING keeps this file idempotent and leaves an
-- operator's own edits alone; change seeds in a later numbered file.
INSERT INTO jurisdictions VALUES
    ('GDPR', 'EU General Data Protection Regulation',
     ['AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE',
      'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
      'IS', 'LI', 'NO'],
     [], true,
     json('{"model": "opt-in", "consent_for": ["analytics", "marketing"], "min_age": 16,
       "rights": ["access", "erasure", "portability", "rectification", "objection"]}')),
    ('UK_GDPR', 'UK General Data Protection Regulation (with PECR)',
     ['GB'], [], true,
     json('{"model": "opt-in", "consent_for": ["analytics", "marketing"], "min_age": 13,
       "rights": ["access", "erasure", "portability", "rectification", "objection"]}')),
    ('CCPA', 'California Consumer Privacy Act / California Privacy Rights Act',
     ['US'], ['US-CA'], false,
     json('{"model": "opt-out", "honor_gpc": true, "opt_out_of": ["sale", "sharing"],
       "rights": ["access", "deletion", "correction", "opt-out"]}')),
    ('LGPD', 'Lei Geral de Protecao de Dados (Brazil)',
     ['BR'], [], true,
     json('{"model": "opt-in", "consent_for": ["analytics", "marketing"],
       "rights": ["access", "deletion", "portability", "correction"]}')),
    ('PIPEDA', 'Personal Information Protection and Electronic Documents Act (Canada)',
     ['CA'], [], false,
     json('{"model": "implied", "consent_for": ["marketing"],
       "rights": ["access", "correction", "withdraw_consent"]}'))
ON CONFLICT DO NOTHING;

-- payments: one row per payment line (tracker/model/tables.py PAYMENTS),
-- deduplicated by pid the way events are by eid (see 001_events.sql).
CREATE TABLE IF NOT EXISTS {{table:payments}} {{on_cluster}} (
    pid        UUID,
    created_at {{ts}},
    eid        Nullable(UUID),
    vid        Nullable(UUID),
    sid        Nullable(UUID),
    uid        Nullable(String),
    oid        Nullable(String),
    orid       Nullable(String),
    amt        Decimal(18, 4),
    currency   {{lc_null}},
    product    Nullable(String),
    sku        Nullable(String),
    category   Nullable(String),
    qty        Nullable(Int64),
    price      Nullable(Decimal(18, 4)),
    params     Nullable(String)
)
ENGINE = {{replacing:payments}}
PARTITION BY toYYYYMM({{datetime:created_at}})
ORDER BY (toDate({{datetime:created_at}}), pid);

{{distributed:payments:cityHash64(toString(coalesce(vid, pid)))}};

-- ltv: lifetime value per visitor ('vid'), user ('uid') and order ('orid'),
-- per currency ('' when the payment had none). A view over `payments FINAL`
-- rather than a SummingMergeTree fed by a materialized view: a materialized
-- view sees every inserted block, replays included, and would count a
-- replayed payment twice; summing the deduplicated payments cannot.
-- updated_at is the time of the latest payment counted.
CREATE VIEW IF NOT EXISTS {{db}}.ltv {{on_cluster}} AS
SELECT
    id_type,
    id,
    CAST(sum(amount) AS Decimal(18, 4)) AS amt,
    currency_key AS currency,
    max(paid_at) AS updated_at
FROM (
    SELECT
        id_pair.1                   AS id_type,
        assumeNotNull(id_pair.2)    AS id,
        amt                         AS amount,
        ifNull(currency, '')        AS currency_key,
        created_at                  AS paid_at
    FROM {{db}}.payments FINAL
    ARRAY JOIN [('uid', uid), ('vid', toString(vid)), ('orid', orid)] AS id_pair
    WHERE id_pair.2 IS NOT NULL
)
GROUP BY id_type, id, currency_key;

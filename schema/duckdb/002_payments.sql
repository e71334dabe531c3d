-- payments: one row per payment line (tracker/model/tables.py PAYMENTS).
-- No primary key: the sink deduplicates by pid (see tracker/sinks/duckdb.py).
CREATE TABLE IF NOT EXISTS payments (
    pid        UUID          NOT NULL,
    created_at TIMESTAMP     NOT NULL,
    eid        UUID,
    vid        UUID,
    sid        UUID,
    uid        VARCHAR,
    oid        VARCHAR,
    orid       VARCHAR,
    amt        DECIMAL(18,4) NOT NULL,
    currency   VARCHAR,
    product    VARCHAR,
    sku        VARCHAR,
    category   VARCHAR,
    qty        BIGINT,
    price      DECIMAL(18,4),
    params     JSON
);

-- ltv: lifetime value per visitor ('vid'), user ('uid') and order ('orid'),
-- per currency ('' when the payment had none). The DuckDB sink adds each newly
-- stored payment here in the same transaction, so replays never count twice.
CREATE TABLE IF NOT EXISTS ltv (
    id_type    VARCHAR       NOT NULL CHECK (id_type IN ('uid', 'vid', 'orid')),
    id         VARCHAR       NOT NULL,
    amt        DECIMAL(18,4) NOT NULL,
    currency   VARCHAR       NOT NULL,
    updated_at TIMESTAMP     NOT NULL,
    PRIMARY KEY (id_type, id, currency)
);

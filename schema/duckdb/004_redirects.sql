-- redirects: the current short links; redirect_history: every change to them.
CREATE TABLE IF NOT EXISTS redirects (
    urlfrom    VARCHAR   PRIMARY KEY,
    urlto      VARCHAR   NOT NULL,
    oid        VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS redirect_history (
    urlfrom    VARCHAR   NOT NULL,
    urlto      VARCHAR,
    oid        VARCHAR,
    action     VARCHAR   NOT NULL,  -- 'create', 'update' or 'delete'
    changed_at TIMESTAMP NOT NULL
);

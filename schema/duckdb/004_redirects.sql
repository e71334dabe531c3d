-- redirect_history: every change to a short link (tracker/model/tables.py
-- REDIRECT_HISTORY), written through the log like events; the sink
-- deduplicates by hid. `action` is 'create', 'update' or 'delete'.
CREATE TABLE IF NOT EXISTS redirect_history (
    hid        UUID      NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    urlfrom    VARCHAR   NOT NULL,
    host       VARCHAR   NOT NULL,
    urlto      VARCHAR,
    oid        VARCHAR,
    action     VARCHAR   NOT NULL
);

-- redirects: the current short links, derived from the history so the two can
-- never disagree: per urlfrom its newest change, unless that was a delete.
-- (Ties in changed_at are broken by hid, time-ordered like the server's ids.)
CREATE OR REPLACE VIEW redirects AS
SELECT urlfrom, host, urlto, oid, created_at, changed_at AS updated_at
FROM (
    SELECT
        urlfrom, host, urlto, oid, action, changed_at,
        max(changed_at) FILTER (WHERE action = 'create')
            OVER (PARTITION BY urlfrom) AS created_at,
        row_number() OVER (PARTITION BY urlfrom ORDER BY changed_at DESC, hid DESC) AS newest
    FROM redirect_history
)
WHERE newest = 1 AND action <> 'delete';

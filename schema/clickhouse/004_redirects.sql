-- redirect_history: every change to a short link (tracker/model/tables.py
-- REDIRECT_HISTORY), deduplicated by hid the way events are by eid.
-- `action` is 'create', 'update' or 'delete'.
CREATE TABLE IF NOT EXISTS {{table:redirect_history}} {{on_cluster}} (
    hid        UUID,
    changed_at {{ts}},
    urlfrom    String,
    host       String,
    urlto      Nullable(String),
    oid        Nullable(String),
    action     {{lc}}
)
ENGINE = {{replacing:redirect_history}}
PARTITION BY toYYYYMM({{datetime:changed_at}})
ORDER BY (host, urlfrom, hid);

{{distributed:redirect_history:cityHash64(urlfrom)}};

-- redirects: the current short links, derived from the history so the two can
-- never disagree: per urlfrom its newest change, unless that was a delete.
CREATE VIEW IF NOT EXISTS {{db}}.redirects {{on_cluster}} AS
SELECT urlfrom, host, urlto, oid, created_at, updated_at
FROM (
    SELECT
        urlfrom,
        argMax(host, changed_at)                AS host,
        argMax(urlto, changed_at)               AS urlto,
        argMax(oid, changed_at)                 AS oid,
        argMax(action, changed_at)              AS last_action,
        maxIf(changed_at, action = 'create')    AS created_at,
        max(changed_at)                         AS updated_at
    FROM {{db}}.redirect_history FINAL
    GROUP BY urlfrom
)
WHERE last_action != 'delete';

-- Derived views over events, the same as schema/duckdb/005_views.sql. They
-- leave out bot traffic (bot = 1). Days are UTC days of created_at.
--
-- Plain views over `events FINAL`, not materialized views: a materialized
-- view aggregates every inserted block, replays included, so a replayed event
-- would count twice until (and, for sums and counts, even after) merges.
-- FINAL deduplicates by eid at query time on every shard, so each event counts
-- once before any merge. The price is query time: FINAL merges the rows of a
-- key range while reading (single-threaded per partition on old servers).
-- Filter on day/created_at to keep it cheap; see CLUSTER.md.
--
-- Distinct counts are wrapped in ifNull(.., 0): old servers return NULL for
-- count(DISTINCT x) over only NULL values where DuckDB returns 0.

CREATE VIEW IF NOT EXISTS {{db}}.visitors {{on_cluster}} AS
SELECT
    vid,
    min(created_at)                   AS first_seen,
    max(created_at)                   AS last_seen,
    count()                           AS events,
    ifNull(count(DISTINCT sid), 0)    AS sessions
FROM {{db}}.events FINAL
WHERE NOT bot AND vid IS NOT NULL
GROUP BY vid;

CREATE VIEW IF NOT EXISTS {{db}}.sessions {{on_cluster}} AS
SELECT
    sid,
    argMin(vid, created_at)           AS vid,
    min(created_at)                   AS started_at,
    max(created_at)                   AS ended_at,
    {{ms:max(created_at)}} - {{ms:min(created_at)}} AS duration_ms,
    count()                           AS events,
    argMin(url, created_at)           AS first_url,
    argMax(url, created_at)           AS last_url,
    argMin(referrer, created_at)      AS referrer,
    argMin(source, created_at)        AS source,
    argMin(medium, created_at)        AS medium,
    argMin(campaign, created_at)      AS campaign,
    argMin(country, created_at)       AS country,
    argMin(device, created_at)        AS device
FROM {{db}}.events FINAL
WHERE NOT bot AND sid IS NOT NULL
GROUP BY sid;

CREATE VIEW IF NOT EXISTS {{db}}.dailies {{on_cluster}} AS
SELECT
    toDate({{datetime:created_at}})   AS day,
    host,
    count()                           AS events,
    ifNull(count(DISTINCT vid), 0)    AS visitors,
    ifNull(count(DISTINCT sid), 0)    AS sessions
FROM {{db}}.events FINAL
WHERE NOT bot
GROUP BY day, host;

-- External referrers only: a referrer on the event's own host is navigation.
-- Hosts compare lowercased (host names are case-insensitive); `referrer`
-- keeps the value as sent. The last condition is DuckDB's
-- `referrer_host IS DISTINCT FROM lower(host)`.
CREATE VIEW IF NOT EXISTS {{db}}.referrers {{on_cluster}} AS
SELECT
    day,
    referrer_host,
    referrer,
    count()                           AS visits,
    ifNull(count(DISTINCT vid), 0)    AS visitors
FROM (
    SELECT
        toDate({{datetime:created_at}}) AS day,
        nullIf(lower(extract(referrer, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')), '')
            AS referrer_host,
        referrer,
        host,
        vid
    FROM {{db}}.events FINAL
    WHERE NOT bot AND referrer IS NOT NULL AND referrer != ''
)
WHERE ifNull(referrer_host != lower(host), NOT (isNull(referrer_host) AND isNull(host)))
GROUP BY day, referrer_host, referrer;

CREATE VIEW IF NOT EXISTS {{db}}.outcomes {{on_cluster}} AS
SELECT
    xid,
    split,
    outcome,
    count()                           AS events,
    ifNull(count(DISTINCT vid), 0)    AS visitors,
    sum(score)                        AS score_sum,
    sum(revenue)                      AS revenue_sum
FROM {{db}}.events FINAL
WHERE NOT bot AND xid IS NOT NULL
GROUP BY xid, split, outcome;

CREATE VIEW IF NOT EXISTS {{db}}.hits {{on_cluster}} AS
SELECT
    toDate({{datetime:created_at}})   AS day,
    url,
    count()                           AS hits,
    ifNull(count(DISTINCT vid), 0)    AS visitors
FROM {{db}}.events FINAL
WHERE NOT bot AND url IS NOT NULL
GROUP BY day, url;

-- Derived views over events. Plain views: always current, nothing to refresh,
-- and the event volume of one DuckDB file makes them fast enough. They leave
-- out bot traffic (bot = true). Days are UTC days of created_at.

CREATE OR REPLACE VIEW visitors AS
SELECT
    vid,
    min(created_at)     AS first_seen,
    max(created_at)     AS last_seen,
    count(*)            AS events,
    count(DISTINCT sid) AS sessions
FROM events
WHERE NOT bot AND vid IS NOT NULL
GROUP BY vid;

CREATE OR REPLACE VIEW sessions AS
SELECT
    sid,
    arg_min(vid, created_at)      AS vid,
    min(created_at)               AS started_at,
    max(created_at)               AS ended_at,
    date_diff('millisecond', min(created_at), max(created_at)) AS duration_ms,
    count(*)                      AS events,
    arg_min(url, created_at)      AS first_url,
    arg_max(url, created_at)      AS last_url,
    arg_min(referrer, created_at) AS referrer,
    arg_min(source, created_at)   AS source,
    arg_min(medium, created_at)   AS medium,
    arg_min(campaign, created_at) AS campaign,
    arg_min(country, created_at)  AS country,
    arg_min(device, created_at)   AS device
FROM events
WHERE NOT bot AND sid IS NOT NULL
GROUP BY sid;

CREATE OR REPLACE VIEW dailies AS
SELECT
    CAST(created_at AS DATE) AS day,
    host,
    count(*)                 AS events,
    count(DISTINCT vid)      AS visitors,
    count(DISTINCT sid)      AS sessions
FROM events
WHERE NOT bot
GROUP BY ALL;

-- External referrers only: a referrer on the event's own host is navigation.
-- Hosts compare lowercased (host names are case-insensitive); `referrer`
-- keeps the value as sent.
CREATE OR REPLACE VIEW referrers AS
SELECT
    day,
    referrer_host,
    referrer,
    count(*)            AS visits,
    count(DISTINCT vid) AS visitors
FROM (
    SELECT
        CAST(created_at AS DATE) AS day,
        nullif(lower(regexp_extract(referrer, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)', 1)), '')
            AS referrer_host,
        referrer,
        host,
        vid
    FROM events
    WHERE NOT bot AND referrer IS NOT NULL AND referrer <> ''
)
WHERE referrer_host IS DISTINCT FROM lower(host)
GROUP BY ALL;

CREATE OR REPLACE VIEW outcomes AS
SELECT
    xid,
    split,
    outcome,
    count(*)            AS events,
    count(DISTINCT vid) AS visitors,
    sum(score)          AS score_sum,
    sum(revenue)        AS revenue_sum
FROM events
WHERE NOT bot AND xid IS NOT NULL
GROUP BY ALL;

CREATE OR REPLACE VIEW hits AS
SELECT
    CAST(created_at AS DATE) AS day,
    url,
    count(*)                 AS hits,
    count(DISTINCT vid)      AS visitors
FROM events
WHERE NOT bot AND url IS NOT NULL
GROUP BY ALL;

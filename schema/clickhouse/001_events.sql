-- events: one row per tracked event. Columns, order and kinds follow
-- tracker/model/tables.py (EVENTS); tests/unit/test_clickhouse_schema.py checks it.
--
-- This file is a template: tracker/sinks/clickhouse_schema.py fills the
-- {{...}} placeholders for the server's feature level and topology (see the
-- module's docstring and CLUSTER.md). {{ts}} is DateTime64(3, 'UTC') where the
-- server has it, else Int64 milliseconds; {{lc_null}} is
-- LowCardinality(Nullable(String)) where LowCardinality is production-ready,
-- else Nullable(String).
--
-- Deduplication: ReplacingMergeTree collapses rows with the same ORDER BY key
-- within a partition. The key (day, eid) is a function of the row's identity
-- (a replay carries the same created_at), so a replayed event collapses with
-- its first copy on merge, and `FINAL` shows it once before any merge.
CREATE TABLE IF NOT EXISTS {{table:events}} {{on_cluster}} (
    eid        UUID,
    created_at {{ts}},
    client_ts  {{ts_null}},
    vid        Nullable(UUID),
    sid        Nullable(UUID),
    uid        Nullable(String),
    oid        Nullable(String),
    tid        Nullable(String),
    ename      {{lc_null}},
    etyp       {{lc_null}},
    url        Nullable(String),
    host       {{lc_null}},
    referrer   Nullable(String),
    xid        Nullable(String),
    split      Nullable(String),
    outcome    Nullable(String),
    score      Nullable(Float64),
    revenue    Nullable(Float64),
    currency   {{lc_null}},
    source     {{lc_null}},
    medium     {{lc_null}},
    campaign   Nullable(String),
    content    Nullable(String),
    term       Nullable(String),
    tz         {{lc_null}},
    lang       {{lc_null}},
    device     {{lc_null}},
    os         {{lc_null}},
    browser    {{lc_null}},
    vp_w       Nullable(Int64),
    vp_h       Nullable(Int64),
    bot        UInt8,
    ip         Nullable(String),
    iphash     Nullable(String),
    country    {{lc_null}},
    region     Nullable(String),
    city       Nullable(String),
    lat        Nullable(Float64),
    lon        Nullable(Float64),
    ehash      Nullable(String),
    chash      Nullable(String),
    uhash      Nullable(String),
    cflags     Nullable(Int64),
    params     Nullable(String)
)
ENGINE = {{replacing:events}}
PARTITION BY toYYYYMM({{datetime:created_at}})
ORDER BY (toDate({{datetime:created_at}}), eid);

-- Cluster mode only: the logical table, spreading rows over the shards by
-- visitor, so a visitor's rows (and every replay of them) share one shard.
{{distributed:events:cityHash64(toString(coalesce(vid, eid)))}};

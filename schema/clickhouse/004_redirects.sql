-- redirects: the current short links; redirect_history: every change to them.
-- A change to a link is a new row for the same urlfrom, which replaces the old
-- one (read with FINAL); a deleted link is removed with ALTER TABLE ... DELETE.
CREATE TABLE IF NOT EXISTS {{table:redirects}} {{on_cluster}} (
    urlfrom    String,
    urlto      String,
    oid        Nullable(String),
    created_at {{ts}},
    updated_at {{ts}}
)
ENGINE = {{replacing:redirects}}
ORDER BY urlfrom;

{{distributed:redirects:cityHash64(urlfrom)}};

CREATE TABLE IF NOT EXISTS {{table:redirect_history}} {{on_cluster}} (
    urlfrom    String,
    urlto      Nullable(String),
    oid        Nullable(String),
    action     {{lc}},  -- 'create', 'update' or 'delete'
    changed_at {{ts}}
)
ENGINE = {{merge_tree:redirect_history}}
PARTITION BY toYYYYMM({{datetime:changed_at}})
ORDER BY (urlfrom, changed_at);

{{distributed:redirect_history:cityHash64(urlfrom)}};

-- iocd SQLite schema, version 1.
CREATE TABLE tenants (
    tenant_no     INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL UNIQUE,
    next_id       INTEGER NOT NULL DEFAULT 1,
    -- Maintained on every insert and removal; may include expired rows not yet swept.
    active_count  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE indicators (
    -- (tenant_no << 40) | id: clusters rows by tenant and id (see row_key in sqlite.rs).
    pk                       INTEGER PRIMARY KEY,
    tenant_no                INTEGER NOT NULL REFERENCES tenants (tenant_no),
    id                       INTEGER NOT NULL,
    indicator_type           TEXT NOT NULL,
    indicator_value          TEXT NOT NULL,
    action                   TEXT NOT NULL,
    title                    TEXT NOT NULL,
    description              TEXT NOT NULL,
    application              TEXT,
    expiration_time          INTEGER,
    severity                 TEXT NOT NULL,
    recommended_actions      TEXT,
    rbac_group_names         TEXT NOT NULL,
    rbac_group_ids           TEXT NOT NULL,
    generate_alert           INTEGER NOT NULL,
    educate_url              TEXT,
    external_id              TEXT,
    category                 INTEGER NOT NULL,
    mitre_techniques         TEXT NOT NULL,
    bypass_duration_hours    INTEGER,
    notification_id          TEXT,
    notification_body        TEXT,
    version                  TEXT,
    certificate_info         TEXT,
    historical_detection     INTEGER NOT NULL,
    look_back_period         TEXT,
    additional_info          TEXT,
    created_by               TEXT NOT NULL,
    created_by_display_name  TEXT NOT NULL,
    created_by_source        TEXT NOT NULL,
    creation_time            INTEGER NOT NULL,
    last_update_time         INTEGER NOT NULL,
    last_updated_by          TEXT,
    -- FNV-1a 64 of indicator_value (see value_hash in sqlite.rs).
    value_hash               INTEGER NOT NULL
);
-- Finds indicators by value: the upsert key (type, value, action) and `indicatorValue eq`.
-- A hash keeps the index small; uniqueness of the key is enforced by the single writer.
CREATE INDEX indicators_value ON indicators (tenant_no, value_hash);
CREATE INDEX indicators_expiry ON indicators (expiration_time) WHERE expiration_time IS NOT NULL;
CREATE INDEX indicators_creator ON indicators (tenant_no, created_by);

CREATE TABLE indicator_groups (
    tenant_no   INTEGER NOT NULL,
    group_name  TEXT NOT NULL,
    id          INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, group_name, id)
) WITHOUT ROWID;

CREATE TABLE indicator_history (
    sequence      INTEGER PRIMARY KEY,
    tenant_no     INTEGER NOT NULL,
    -- For `create`: the first of a range of ids created together, ending at last_id.
    indicator_id  INTEGER NOT NULL,
    last_id       INTEGER,
    op            TEXT NOT NULL,
    at            INTEGER NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    -- createdBy of the indicator, so Ti.ReadWrite callers see only their own history.
    owner         TEXT NOT NULL,
    -- The indicator (MDE JSON) before this change; NULL for create.
    before_json   TEXT
);
CREATE INDEX history_indicator ON indicator_history (tenant_no, op, indicator_id);

-- Planner statistics describing the expected shape of the data (many rows per tenant, one row
-- per indicator value), so that `indicatorValue eq …` uses the key index even before the
-- first ANALYZE. ANALYZE may replace them with measured figures later.
ANALYZE sqlite_schema;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('indicators', NULL, '1000000'),
    ('indicators', 'indicators_value', '1000000 100000 1'),
    ('indicators', 'indicators_expiry', '100000 10'),
    ('indicators', 'indicators_creator', '1000000 100000 20000'),
    ('indicator_groups', 'sqlite_autoindex_indicator_groups_1', '100000 10000 500 1'),
    ('indicator_history', 'history_indicator', '2000000 200000 50000 2');
ANALYZE sqlite_schema;

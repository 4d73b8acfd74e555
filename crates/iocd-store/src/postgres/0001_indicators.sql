-- iocd PostgreSQL schema, version 1: tenants, indicators, their device-group scope, their
-- history, and the change log other nodes follow.
CREATE TABLE tenants (
    tenant_no     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     TEXT NOT NULL UNIQUE,
    next_id       BIGINT NOT NULL DEFAULT 1,
    -- Maintained on every insert and removal; may include expired rows not yet swept.
    active_count  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE indicators (
    -- No foreign key to tenants: its check per row would cost bulk loads a lookup each, and
    -- tenants are never deleted.
    tenant_no                BIGINT NOT NULL,
    id                       BIGINT NOT NULL,
    indicator_type           TEXT NOT NULL,
    indicator_value          TEXT NOT NULL,
    action                   TEXT NOT NULL,
    title                    TEXT NOT NULL,
    description              TEXT NOT NULL,
    application              TEXT,
    expiration_time          BIGINT,
    severity                 TEXT NOT NULL,
    recommended_actions      TEXT,
    rbac_group_names         TEXT NOT NULL,
    rbac_group_ids           TEXT NOT NULL,
    generate_alert           BOOLEAN NOT NULL,
    educate_url              TEXT,
    external_id              TEXT,
    category                 BIGINT NOT NULL,
    mitre_techniques         TEXT NOT NULL,
    bypass_duration_hours    BIGINT,
    notification_id          TEXT,
    notification_body        TEXT,
    version                  TEXT,
    certificate_info         TEXT,
    historical_detection     BOOLEAN NOT NULL,
    look_back_period         TEXT,
    additional_info          TEXT,
    created_by               TEXT NOT NULL,
    created_by_display_name  TEXT NOT NULL,
    created_by_source        TEXT NOT NULL,
    creation_time            BIGINT NOT NULL,
    last_update_time         BIGINT NOT NULL,
    last_updated_by          TEXT,
    -- FNV-1a 64 of indicator_value (iocd_store's value_hash, shared with SQLite).
    value_hash               BIGINT NOT NULL,
    PRIMARY KEY (tenant_no, id)
);
-- Finds indicators by value: the upsert key (type, value, action) and `indicatorValue eq`. A
-- 64-bit hash of the value (FNV-1a, computed by iocd as for SQLite) keeps the index small and
-- its entries fixed-size whatever a URL's length; lookups compare the value itself too. The key
-- is kept unique by the tenant's row lock every writer takes (decision 0021).
CREATE INDEX indicators_value ON indicators (tenant_no, value_hash);
CREATE INDEX indicators_expiry ON indicators (expiration_time) WHERE expiration_time IS NOT NULL;
CREATE INDEX indicators_creator ON indicators (tenant_no, created_by);
CREATE INDEX indicators_type ON indicators (tenant_no, indicator_type, id);
CREATE INDEX indicators_updated ON indicators (tenant_no, last_update_time, id);

CREATE TABLE indicator_groups (
    tenant_no   BIGINT NOT NULL,
    group_name  TEXT NOT NULL,
    id          BIGINT NOT NULL,
    PRIMARY KEY (tenant_no, group_name, id)
);

CREATE TABLE indicator_history (
    sequence      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_no     BIGINT NOT NULL,
    -- For `create`: the first of a range of ids created together, ending at last_id.
    indicator_id  BIGINT NOT NULL,
    last_id       BIGINT,
    op            TEXT NOT NULL,
    at            BIGINT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    -- createdBy of the indicator, so Ti.ReadWrite callers see only their own history.
    owner         TEXT NOT NULL,
    -- The indicator (MDE JSON) before this change; NULL for create.
    before_json   TEXT
);
CREATE INDEX history_indicator ON indicator_history (tenant_no, op, indicator_id);

-- The change log: one row per write transaction and tenant, naming the ids it created (a
-- range) and the ids it updated, deleted or expired. `seq` is taken under a transaction-level
-- advisory lock held to commit, so numbers follow commit order: a node that has applied
-- everything up to N never later meets a commit with a smaller number (decision 0021).
CREATE SEQUENCE change_numbers;
CREATE TABLE changes (
    seq            BIGINT PRIMARY KEY,
    tenant_no      BIGINT NOT NULL,
    -- Ids created: created_first..=created_last; none when created_first > created_last.
    created_first  BIGINT NOT NULL,
    created_last   BIGINT NOT NULL,
    changed_ids    BIGINT[] NOT NULL,
    at             BIGINT NOT NULL
);

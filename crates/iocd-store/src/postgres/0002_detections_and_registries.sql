-- iocd PostgreSQL schema, version 2: alerts and sightings, alert delivery (webhooks, their
-- deliveries, the alert outbox and its cursors), the devices seen, device groups, Warn
-- bypasses, feeds defined through the API, and the token endpoint's application registrations.
ALTER TABLE tenants ADD COLUMN next_alert_id BIGINT NOT NULL DEFAULT 1;

CREATE TABLE alerts (
    tenant_no           BIGINT NOT NULL,
    id                  BIGINT NOT NULL,
    indicator_id        BIGINT NOT NULL,
    indicator_type      TEXT NOT NULL,
    indicator_value     TEXT NOT NULL,
    action              TEXT NOT NULL,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL,
    severity            TEXT NOT NULL,
    category            TEXT NOT NULL,
    recommended_actions TEXT,
    detection_source    TEXT NOT NULL,
    machine_id          TEXT NOT NULL,
    computer_dns_name   TEXT,
    machine_group       TEXT,
    first_event_time    BIGINT NOT NULL,
    last_event_time     BIGINT NOT NULL,
    event_count         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    classification      TEXT,
    assigned_to         TEXT,
    alert_creation_time BIGINT NOT NULL,
    last_update_time    BIGINT NOT NULL,
    evidence            TEXT NOT NULL,          -- JSON array, at most 10 items
    mitre_techniques    TEXT NOT NULL DEFAULT '[]',
    comments            TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_no, id)
);
CREATE INDEX alerts_fold ON alerts (tenant_no, indicator_id, machine_id, first_event_time);

CREATE TABLE sightings (
    tenant_no         BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    key               TEXT NOT NULL,
    machine_id        TEXT NOT NULL,
    display           TEXT NOT NULL,
    computer_dns_name TEXT,
    machine_group     TEXT,
    first_seen        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    PRIMARY KEY (tenant_no, kind, key, machine_id)
);
CREATE INDEX sightings_age ON sightings (last_seen);

CREATE TABLE webhooks (
    tenant_no   BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,      -- comma-separated event names
    created     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_no, id)
);

CREATE TABLE webhook_deliveries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_no     BIGINT NOT NULL,
    webhook_id    BIGINT NOT NULL,
    alert_id      BIGINT NOT NULL,
    event         TEXT NOT NULL,
    state         TEXT NOT NULL,    -- Pending, Delivered, Failed
    attempts      BIGINT NOT NULL DEFAULT 0,
    created       BIGINT NOT NULL,
    next_attempt  BIGINT,           -- pending deliveries only
    last_attempt  BIGINT,
    last_status   BIGINT,
    last_error    TEXT,
    delivered     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt) WHERE state = 'Pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (tenant_no, webhook_id, id);

-- Numbered like the change log (under the same advisory lock), so a consumer's cursor never
-- passes an entry that commits later.
CREATE SEQUENCE outbox_numbers;
CREATE TABLE alert_outbox (
    seq        BIGINT PRIMARY KEY,
    tenant_no  BIGINT NOT NULL,
    alert_id   BIGINT NOT NULL,
    event      TEXT NOT NULL,
    time       BIGINT NOT NULL
);

CREATE TABLE outbox_cursors (
    consumer  TEXT PRIMARY KEY,
    seq       BIGINT NOT NULL
);

CREATE TABLE devices (
    tenant_no   BIGINT NOT NULL,
    device_id   TEXT NOT NULL,
    name        TEXT,
    domain      TEXT,
    os          TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',   -- JSON array
    group_id    BIGINT,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (tenant_no, device_id)
);
CREATE INDEX devices_last_seen ON devices (tenant_no, last_seen);

CREATE TABLE device_groups (
    tenant_no    BIGINT NOT NULL,
    id           BIGINT NOT NULL,
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,               -- lower-case name: unique without regard to case
    description  TEXT NOT NULL DEFAULT '',
    rank         BIGINT NOT NULL,
    rules        TEXT NOT NULL DEFAULT '{}',  -- JSON: nameStartsWith, domain, os, tags
    created      BIGINT NOT NULL,
    last_update  BIGINT NOT NULL,
    PRIMARY KEY (tenant_no, id)
);
CREATE UNIQUE INDEX device_groups_name ON device_groups (tenant_no, name_key);
CREATE INDEX indicator_groups_by_name ON indicator_groups (tenant_no, lower(group_name));

CREATE TABLE bypasses (
    tenant_no     BIGINT NOT NULL,
    device_id     TEXT NOT NULL,
    indicator_id  BIGINT NOT NULL,
    user_name     TEXT,
    created       BIGINT NOT NULL,
    expires       BIGINT NOT NULL,
    PRIMARY KEY (tenant_no, device_id, indicator_id)
);
CREATE INDEX bypasses_expiry ON bypasses (expires);

CREATE TABLE feeds (
    tenant_no   BIGINT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,   -- JSON, as the server validated it
    created     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_no, name)
);

CREATE TABLE apps (
    client_id      TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    name           TEXT NOT NULL,
    roles          TEXT NOT NULL,  -- JSON array of role names
    secret_hash    TEXT NOT NULL,  -- PHC string (argon2id)
    created        BIGINT NOT NULL,
    secret_changed BIGINT NOT NULL,
    revoked        BIGINT
);
CREATE INDEX apps_by_tenant ON apps (tenant, created);

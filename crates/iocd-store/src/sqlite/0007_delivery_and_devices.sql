-- Alert delivery (webhooks, their deliveries, the alert outbox and its consumers' cursors)
-- and the devices seen.
CREATE TABLE webhooks (
    tenant_no   INTEGER NOT NULL,
    id          INTEGER NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,      -- comma-separated event names
    created     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_no, id)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_no     INTEGER NOT NULL,
    webhook_id    INTEGER NOT NULL,
    alert_id      INTEGER NOT NULL,
    event         TEXT NOT NULL,
    state         TEXT NOT NULL,    -- Pending, Delivered, Failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL,
    next_attempt  INTEGER,          -- pending deliveries only
    last_attempt  INTEGER,
    last_status   INTEGER,
    last_error    TEXT,
    delivered     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt) WHERE state = 'Pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (tenant_no, webhook_id, id);

CREATE TABLE alert_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_no  INTEGER NOT NULL,
    alert_id   INTEGER NOT NULL,
    event      TEXT NOT NULL,
    time       INTEGER NOT NULL
);

CREATE TABLE outbox_cursors (
    consumer  TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE devices (
    tenant_no   INTEGER NOT NULL,
    device_id   TEXT NOT NULL,
    name        TEXT,
    domain      TEXT,
    os          TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',   -- JSON array
    group_id    INTEGER,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, device_id)
) WITHOUT ROWID;
CREATE INDEX devices_last_seen ON devices (tenant_no, last_seen);

-- Alerts raised by the detection engine and the compact index of observables seen in events
-- that retro-hunting searches.
ALTER TABLE tenants ADD COLUMN next_alert_id INTEGER NOT NULL DEFAULT 1;

CREATE TABLE alerts (
    pk                  INTEGER PRIMARY KEY,  -- tenant_no << 40 | id
    tenant_no           INTEGER NOT NULL,
    id                  INTEGER NOT NULL,
    indicator_id        INTEGER NOT NULL,
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
    first_event_time    INTEGER NOT NULL,
    last_event_time     INTEGER NOT NULL,
    event_count         INTEGER NOT NULL,
    status              TEXT NOT NULL,
    classification      TEXT,
    assigned_to         TEXT,
    alert_creation_time INTEGER NOT NULL,
    last_update_time    INTEGER NOT NULL,
    evidence            TEXT NOT NULL         -- JSON array, at most 10 items
);
CREATE INDEX alerts_fold ON alerts (tenant_no, indicator_id, machine_id, first_event_time);

CREATE TABLE sightings (
    tenant_no         INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    key               TEXT NOT NULL,
    machine_id        TEXT NOT NULL,
    display           TEXT NOT NULL,
    computer_dns_name TEXT,
    machine_group     TEXT,
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, kind, key, machine_id)
) WITHOUT ROWID;
CREATE INDEX sightings_age ON sightings (last_seen);

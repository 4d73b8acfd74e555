-- Warn bypasses: until `expires`, the device gets Allowed for the indicator.
CREATE TABLE bypasses (
    tenant_no     INTEGER NOT NULL,
    device_id     TEXT NOT NULL,
    indicator_id  INTEGER NOT NULL,
    user_name     TEXT,
    created       INTEGER NOT NULL,
    expires       INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, device_id, indicator_id)
) WITHOUT ROWID;
CREATE INDEX bypasses_expiry ON bypasses (expires);

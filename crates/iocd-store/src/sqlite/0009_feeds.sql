-- Feeds defined through the API (those of the configuration file are not stored).
CREATE TABLE IF NOT EXISTS feeds (
    tenant_no   INTEGER NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,   -- JSON, as the server validated it
    created     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_no, name)
) WITHOUT ROWID;

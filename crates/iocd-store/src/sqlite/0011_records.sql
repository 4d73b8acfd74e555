-- Small shared documents (iocd_store::records): feed runs, feed run requests, TAXII statuses.
CREATE TABLE IF NOT EXISTS records (
    kind     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    name     TEXT NOT NULL,
    body     TEXT NOT NULL,   -- JSON
    updated  INTEGER NOT NULL,
    PRIMARY KEY (kind, tenant, name)
);
CREATE INDEX IF NOT EXISTS records_by_age ON records (kind, updated);

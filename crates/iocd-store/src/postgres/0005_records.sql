-- iocd PostgreSQL schema, version 5: small documents every node must see alike
-- (iocd_store::records): feed runs and run requests, TAXII statuses.
CREATE TABLE records (
    kind     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    name     TEXT NOT NULL,
    body     TEXT NOT NULL,
    updated  BIGINT NOT NULL,
    PRIMARY KEY (kind, tenant, name)
);
CREATE INDEX records_by_age ON records (kind, updated);

-- Application registrations for the token endpoint (client credentials).
CREATE TABLE apps (
    client_id      TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    name           TEXT NOT NULL,
    roles          TEXT NOT NULL,  -- JSON array of role names
    secret_hash    TEXT NOT NULL,  -- PHC string (argon2id)
    created        INTEGER NOT NULL,
    secret_changed INTEGER NOT NULL,
    revoked        INTEGER
);
CREATE INDEX apps_by_tenant ON apps (tenant, created);

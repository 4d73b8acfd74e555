-- iocd PostgreSQL schema, version 3: the secrets every node needs alike (the signing keys of
-- `iocd token create` tokens and of the token endpoint), which a single node keeps in files
-- of its data directory.
CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

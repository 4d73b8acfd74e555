-- Device groups, defined per tenant: ranked, with membership rules. Indicators name groups by
-- name and id; both are resolved against this registry when written, and the matcher scopes by
-- id. The default group (id 0, "Ungrouped devices") is implicit and not stored.
CREATE TABLE device_groups (
    tenant_no    INTEGER NOT NULL,
    id           INTEGER NOT NULL,
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,               -- lower-case name: unique without regard to case
    description  TEXT NOT NULL DEFAULT '',
    rank         INTEGER NOT NULL,
    rules        TEXT NOT NULL DEFAULT '{}',  -- JSON: nameStartsWith, domain, os, tags
    created      INTEGER NOT NULL,
    last_update  INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX device_groups_name ON device_groups (tenant_no, name_key);

-- Existing indicators are brought into the registry. Every group id they name becomes a group
-- of that id ("Group <id>"), so ids clients gave keep their meaning...
INSERT OR IGNORE INTO device_groups (tenant_no, id, name, name_key, rank, created, last_update)
SELECT DISTINCT i.tenant_no, CAST(j.value AS INTEGER), 'Group ' || j.value, 'group ' || j.value,
       CAST(j.value AS INTEGER), 0, 0
FROM indicators i, json_each(i.rbac_group_ids) j
WHERE i.rbac_group_ids <> '[]' AND CAST(j.value AS INTEGER) > 0;

-- ...every group name they use becomes a group numbered after those...
CREATE TEMP TABLE migrated_names AS
SELECT tenant_no, lower(group_name) AS name_key, MIN(group_name) AS name
FROM indicator_groups
WHERE NOT EXISTS (SELECT 1 FROM device_groups d
                  WHERE d.tenant_no = indicator_groups.tenant_no
                    AND d.name_key = lower(indicator_groups.group_name))
GROUP BY tenant_no, lower(group_name);

INSERT INTO device_groups (tenant_no, id, name, name_key, rank, created, last_update)
SELECT m.tenant_no,
       COALESCE((SELECT MAX(d.id) FROM device_groups d WHERE d.tenant_no = m.tenant_no), 0)
         + ROW_NUMBER() OVER (PARTITION BY m.tenant_no ORDER BY m.name_key),
       m.name, m.name_key,
       COALESCE((SELECT MAX(d.id) FROM device_groups d WHERE d.tenant_no = m.tenant_no), 0)
         + ROW_NUMBER() OVER (PARTITION BY m.tenant_no ORDER BY m.name_key),
       0, 0
FROM migrated_names m;
DROP TABLE migrated_names;

-- ...and each indicator names its groups both ways: the ids of its names and its former ids,
-- then the names of all of them.
UPDATE indicators SET rbac_group_ids = (
    SELECT json_group_array(id) FROM (
        SELECT dg.id AS id FROM indicator_groups ig
        JOIN device_groups dg ON dg.tenant_no = ig.tenant_no AND dg.name_key = lower(ig.group_name)
        WHERE ig.tenant_no = indicators.tenant_no AND ig.id = indicators.id
        UNION
        SELECT CAST(j.value AS INTEGER) FROM json_each(indicators.rbac_group_ids) j
        WHERE CAST(j.value AS INTEGER) > 0
        ORDER BY 1))
WHERE rbac_group_names <> '[]' OR rbac_group_ids <> '[]';

UPDATE indicators SET rbac_group_names = (
    SELECT json_group_array(name) FROM (
        SELECT dg.name AS name FROM device_groups dg, json_each(indicators.rbac_group_ids) j
        WHERE dg.tenant_no = indicators.tenant_no AND dg.id = j.value
        ORDER BY dg.id))
WHERE rbac_group_ids <> '[]';

DELETE FROM indicator_groups;
INSERT OR IGNORE INTO indicator_groups (tenant_no, group_name, id)
SELECT i.tenant_no, j.value, i.id FROM indicators i, json_each(i.rbac_group_names) j
WHERE i.rbac_group_names <> '[]';

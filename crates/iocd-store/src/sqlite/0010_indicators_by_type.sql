-- Lists of one kind of indicator (the console's tabs: `indicatorType eq …`) in id order
-- without scanning the other kinds: the index holds the row id after the type.
CREATE INDEX IF NOT EXISTS indicators_type ON indicators (tenant_no, indicator_type);
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('indicators', 'indicators_type', '1000000 100000 30000');
ANALYZE sqlite_schema;

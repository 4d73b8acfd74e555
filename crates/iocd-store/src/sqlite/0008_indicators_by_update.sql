-- Reads in the order indicators were last written (TAXII's date_added, added_after and next),
-- without a sort: the index holds the row id after the time, so (time, id) is its order.
CREATE INDEX IF NOT EXISTS indicators_updated ON indicators (tenant_no, last_update_time);

-- iocd PostgreSQL schema, version 6: how far the change log has been pruned, so that a node
-- whose watermark is older knows it missed entries it can no longer read.
CREATE TABLE change_log_state (
    only_row        BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    pruned_through  BIGINT NOT NULL
);
INSERT INTO change_log_state (pruned_through) VALUES (0);

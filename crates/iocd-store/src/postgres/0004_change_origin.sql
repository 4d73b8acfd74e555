-- iocd PostgreSQL schema, version 4: which node wrote each change, so that node does not apply
-- its own writes twice (it applied them when it wrote them).
ALTER TABLE changes ADD COLUMN origin TEXT NOT NULL DEFAULT '';

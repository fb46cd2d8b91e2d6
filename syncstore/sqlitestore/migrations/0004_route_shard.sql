-- 0004_route_shard: the native shard a user's data lives on. A native
-- user is served from this shard's database ('' = the database holding
-- this table); node keeps naming the legacy node, so a user can be moved
-- between shards and still be rolled back to their legacy server.
ALTER TABLE routes ADD COLUMN shard TEXT NOT NULL DEFAULT '';

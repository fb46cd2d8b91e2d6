-- 0003_expiry_partial: the expiry index keeps only records that expire.
-- Most records never do (expiry = 9223372036854775807), and for them the
-- index was one more b-tree insert per record at a random place (its
-- entries sort by the primary key after the shared expiry), dirtying pages
-- on every upload for nothing: only the expiry purge reads the index, and
-- its query names the same condition so the planner can use it.
DROP INDEX wbo_expiry;
CREATE INDEX wbo_expiry ON wbo (expiry) WHERE expiry < 9223372036854775807;

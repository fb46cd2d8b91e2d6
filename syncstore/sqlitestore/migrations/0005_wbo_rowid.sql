-- 0005_wbo_rowid: records are stored in the order they were written
-- (a rowid table) and found by id through an index, instead of in a
-- table clustered on (user_id, collection_id, id).
--
-- Record ids are random (12 characters of base64url), so in the clustered
-- table every record of an upload landed on a different leaf page: a
-- 100-record POST into a collection of 1,000 to 6,000 records dirtied
-- about 225 pages of 4 KiB, each a frame written to the WAL with two
-- pwrite calls (strace: 450 per POST), to store 45 KB of rows; a delete
-- of the 100 oldest history entries touches leaves all over the
-- collection. The writer holds the database through all of it, so every
-- write queued behind it waited for it. Now the rows of one upload sit
-- together at the end of the table and only the small entries of the id
-- index land at random places: about 55 frames per such POST (111
-- pwrite calls), and the rows of an upload expire or are replaced
-- together.
--
-- The id index enforces the key (upserts name it as their conflict
-- target). wbo_modified now carries id itself (a rowid table's index
-- carries the rowid), so newer= and sort=oldest/newest stay index range
-- scans ordered by (modified, id) without a sort step.
--
-- Rewrites the whole table once, in one transaction: on a large database
-- the first start of this version takes about as long as copying the
-- file (117 MiB: 5.8 s) and needs free disk of about the file's size:
-- the new table passes through the WAL, then the file grows by as much,
-- the old table's pages staying in it as free pages that later writes
-- reuse.
CREATE TABLE wbo_rowid (
    user_id       INTEGER NOT NULL,
    collection_id INTEGER NOT NULL,
    id            TEXT    NOT NULL,
    modified      INTEGER NOT NULL,
    sortindex     INTEGER,
    payload       TEXT,
    payload_size  INTEGER NOT NULL DEFAULT 0,
    parentid      TEXT,
    predecessorid TEXT,
    expiry        INTEGER NOT NULL
);

-- Oldest first within a collection: what was written together is stored
-- together, as later writes will be.
INSERT INTO wbo_rowid (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry)
SELECT user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry
FROM wbo ORDER BY user_id, collection_id, modified, id;

DROP TABLE wbo;
ALTER TABLE wbo_rowid RENAME TO wbo;

CREATE UNIQUE INDEX wbo_id ON wbo (user_id, collection_id, id);
CREATE INDEX wbo_modified ON wbo (user_id, collection_id, modified, id);
CREATE INDEX wbo_expiry ON wbo (expiry) WHERE expiry < 9223372036854775807;

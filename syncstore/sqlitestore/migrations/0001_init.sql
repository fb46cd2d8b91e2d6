-- Initial schema of the embedded SQLite store. Published: never edit; add
-- 0002_*.sql instead. Timestamps are centiseconds, expiry and created are
-- Unix seconds (9223372036854775807 = never expires).

CREATE TABLE users (
    -- AUTOINCREMENT so the id of a deleted account is never handed out again.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE, -- lower-cased
    password_hash TEXT    NOT NULL,
    email         TEXT    NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    last_modified INTEGER NOT NULL DEFAULT 0 -- last write timestamp
);

-- Collection names are global; ids 1-11 are the standard ones
-- (syncstore.StandardCollectionID), custom names get 101 and up.
CREATE TABLE collections (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);

INSERT INTO collections (id, name) VALUES
    (1, 'clients'), (2, 'crypto'), (3, 'forms'), (4, 'history'), (5, 'keys'),
    (6, 'meta'), (7, 'bookmarks'), (8, 'prefs'), (9, 'tabs'), (10, 'passwords'),
    (11, 'addons');

-- One row per non-empty collection of a user, kept exact by every write so
-- info/collections and quota checks never scan records. Expired rows are
-- included until purged.
CREATE TABLE user_collections (
    user_id       INTEGER NOT NULL,
    collection_id INTEGER NOT NULL,
    modified      INTEGER NOT NULL, -- max modified of the collection's rows
    record_count  INTEGER NOT NULL,
    total_bytes   INTEGER NOT NULL,
    PRIMARY KEY (user_id, collection_id)
) WITHOUT ROWID;

-- Ids and payloads are TEXT compared with SQLite's default BINARY
-- collation, i.e. case-sensitively and bytewise.
CREATE TABLE wbo (
    user_id       INTEGER NOT NULL,
    collection_id INTEGER NOT NULL,
    id            TEXT    NOT NULL,
    modified      INTEGER NOT NULL,
    sortindex     INTEGER,
    payload       TEXT,
    payload_size  INTEGER NOT NULL DEFAULT 0,
    parentid      TEXT,
    predecessorid TEXT,
    expiry        INTEGER NOT NULL,
    PRIMARY KEY (user_id, collection_id, id)
) WITHOUT ROWID;

-- In a WITHOUT ROWID table the index also carries the primary key, so it
-- orders (modified, id) within a collection: newer= and sort=oldest/newest
-- are index range scans without a sort step.
CREATE INDEX wbo_modified ON wbo (user_id, collection_id, modified);
CREATE INDEX wbo_expiry ON wbo (expiry);

-- 0001_init: the native schema. Published migrations are never edited;
-- changes go into a new, higher-numbered file.
--
-- MySQL commits DDL implicitly, so a migration cannot be rolled back as a
-- whole; IF NOT EXISTS and INSERT IGNORE let a migration that died half-way
-- run again.

CREATE TABLE IF NOT EXISTS users (
  id            BIGINT       NOT NULL AUTO_INCREMENT,
  -- stored lower-cased (syncstore.NormalizeUsername), compared bytewise
  name          VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  password_hash VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  email         VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  created       BIGINT       NOT NULL,           -- unix seconds
  last_modified BIGINT       NOT NULL DEFAULT 0, -- centiseconds: the user's last write timestamp
  PRIMARY KEY (id),
  UNIQUE KEY users_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Collection names are global (not per user) and never renamed; 1..11 are
-- the standard ids shared with the legacy servers, custom names get
-- max(id)+1 from 101 upwards.
CREATE TABLE IF NOT EXISTS collections (
  id   INT         NOT NULL,
  name VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY collections_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

INSERT IGNORE INTO collections (id, name) VALUES
  (1, 'clients'), (2, 'crypto'), (3, 'forms'), (4, 'history'), (5, 'keys'),
  (6, 'meta'), (7, 'bookmarks'), (8, 'prefs'), (9, 'tabs'), (10, 'passwords'),
  (11, 'addons');

-- Per user and collection aggregates, maintained inside every write
-- transaction so info/collections and the quota check never scan wbo. A row
-- exists exactly while its collection holds rows (expired ones included).
CREATE TABLE IF NOT EXISTS user_collections (
  user_id       BIGINT NOT NULL,
  collection_id INT    NOT NULL,
  modified      BIGINT NOT NULL, -- centiseconds: max(wbo.modified)
  record_count  BIGINT NOT NULL, -- rows, expired included
  total_bytes   BIGINT NOT NULL, -- sum(wbo.payload_size), expired included
  PRIMARY KEY (user_id, collection_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS wbo (
  user_id       BIGINT         NOT NULL,
  collection_id INT            NOT NULL,
  id            VARBINARY(64)  NOT NULL, -- case-sensitive
  modified      BIGINT         NOT NULL, -- centiseconds
  sortindex     INT            NULL,
  payload       MEDIUMBLOB     NULL,     -- up to 16 MiB; the protocol allows 256 KiB
  payload_size  INT            NOT NULL DEFAULT 0,
  parentid      VARBINARY(64)  NULL,
  predecessorid VARBINARY(64)  NULL,
  expiry        BIGINT         NOT NULL, -- unix seconds; syncstore.NoExpiry = never
  PRIMARY KEY (user_id, collection_id, id),
  KEY wbo_modified (user_id, collection_id, modified),
  KEY wbo_expiry (expiry)
) ENGINE=InnoDB;

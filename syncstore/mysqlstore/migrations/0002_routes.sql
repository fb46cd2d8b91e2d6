-- 0002_routes: the route table shared by the migration shim and the
-- migrate tool (migrate.RouteTable). One row per user whose route was ever
-- set; users without a row get the shim's default. Times are unix
-- milliseconds; lease_expires 0 = no lease.

CREATE TABLE IF NOT EXISTS routes (
  username      VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- lower-cased
  state         VARCHAR(16)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- legacy | migrating | native
  node          VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  owner         VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '', -- run holding the lease
  origin        VARCHAR(16)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',     -- state to return to if the lease expires
  lease_expires BIGINT        NOT NULL DEFAULT 0,
  last_error    VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  updated       BIGINT        NOT NULL,
  PRIMARY KEY (username),
  KEY routes_state (state)
) ENGINE=InnoDB;

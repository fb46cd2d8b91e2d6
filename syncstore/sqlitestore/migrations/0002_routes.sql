-- 0002_routes: the route table shared by the migration shim and the
-- migrate tool (migrate.RouteTable). One row per user whose route was ever
-- set; users without a row get the shim's default. Times are unix
-- milliseconds; lease_expires 0 = no lease.
CREATE TABLE routes (
    username      TEXT    NOT NULL PRIMARY KEY, -- lower-cased
    state         TEXT    NOT NULL,             -- legacy | migrating | native
    node          TEXT    NOT NULL DEFAULT '',  -- legacy node name
    owner         TEXT    NOT NULL DEFAULT '',  -- migrate run holding the lease
    origin        TEXT    NOT NULL DEFAULT '',  -- state to return to if the lease expires
    lease_expires INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    updated       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX routes_state ON routes (state);

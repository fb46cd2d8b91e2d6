// Package migrate moves Firefox Sync users between a legacy PHP Sync
// database (FSyncMS, FSyncMS with a table prefix, Mozilla's PHP 1.0 server,
// see docs/legacy.md) and the native store, one user at a time,
// while the shim keeps serving everyone else.
//
// The legacy side is read and written here directly with SQL (LegacyDB).
// The native side and the route table are reached through the contracts
// syncstore.BulkStore and syncstore.RouteTable, which every native backend
// implements (and storetest holds them to), so this package imports no
// backend.
package migrate

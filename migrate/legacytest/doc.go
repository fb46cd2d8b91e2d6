// Package legacytest builds legacy PHP Sync databases in a real MariaDB
// for tests: the schemas exactly as docs/legacy.md gives their DDL (FSyncMS,
// FSyncMS with a table prefix, Mozilla PHP 1.0 with optional wbo<N>
// sharding) and realistic users and records stored the way the PHP
// servers store them.
//
// The MariaDB server is taken from SYNCSERVER_TEST_MYSQL (default
// "root@tcp(127.0.0.1:3306)/") through testservices, as in every test
// package. Every database is named with the caller's prefix and a random
// suffix and dropped when the test ends.
package legacytest

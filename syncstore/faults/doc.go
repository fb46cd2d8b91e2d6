// Package faults holds fault-injection tests with real processes: a
// private MariaDB server stopped and killed under a write load, and the
// sync server itself killed in the middle of a batch upload. It has no
// code of its own; the tests drive syncstore/httpapi over the real
// stores (issue 7, "Hardening").
//
// The tests never touch the shared MariaDB on 3306 beyond databases named
// hrd_*: the outage and freeze tests run their own mariadbd
// (testservices.StartMariaDB) on a held port, with its socket and data in
// a temporary directory.
package faults

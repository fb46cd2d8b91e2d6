// Package syncstore holds the storage model of the Firefox Sync 1.1
// (Weave) protocol: the Weave Basic Object, its validation, timestamps,
// the Store interface that backends implement, and user credentials.
//
// Backends live in sub-packages (sqlitestore, mysqlstore); the protocol
// layer that serves HTTP is syncstore/httpapi. Nothing here imports Caddy
// or a SQL driver.
package syncstore

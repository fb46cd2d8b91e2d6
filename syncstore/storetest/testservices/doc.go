// Package testservices gives tests the real services they run against,
// with one policy for every package: throwaway MariaDB databases on the
// server in SYNCSERVER_TEST_MYSQL (default root@tcp(127.0.0.1:3306)/),
// memcached (SYNCSERVER_TEST_MEMCACHED, or a private memcached process),
// private mariadbd processes a test can stop, kill and freeze, a TCP
// proxy that cuts or freezes one client's connections to a server, and
// TCP ports held for the test so that a server can bind them without
// racing other sockets.
//
// A missing service fails the test, it never skips it: `make services`
// (and CI) start MariaDB and memcached, and a skipped test would report
// green for code that never ran.
//
// Only _test.go files import this package; it links testing.
package testservices

// TB is the part of testing.TB the helpers use, so that a program (the
// FSyncMS stand-in linked into syncserver-benchlocal) can use them without
// linking the testing package; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

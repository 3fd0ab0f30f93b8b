// Package testutil holds what several packages' tests need and the box
// itself does not, one way each: a store in a temporary directory with a
// low password cost (Store), a self-signed certificate for loopback names
// (Cert, CertPEM, TLSConfig), polling for a condition (WaitFor), free
// loopback ports (FreePort, FreePorts, ListenPair) and a DNS server on
// loopback (ServeDNS). The fake resolver is resolver.Fake. With
// BOXMAIL_TEST_PG=1, Store and StoreAt open PostgreSQL stores, each data
// dir with a database of its own in the run's private cluster (pgtest).
//
// It is not for production code: only _test.go files import it
// (test/imports_test.go checks that), and the store's own tests, which
// testutil imports, use an in-package helper instead.
package testutil

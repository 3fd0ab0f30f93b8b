package mailmsg

import "testing"

// FuzzHeader checks the invariants of checkInvariants on arbitrary
// input: bounds in range, fields covering exactly the header bytes,
// unfolding that removes only line ends before white space, the
// streaming finder agreeing, and no panic. Its seed corpus is in
// testdata/fuzz/FuzzHeader.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("From: a@example.org\r\nSubject: hi\r\n there\r\n\r\nbody\r\n"))
	f.Add([]byte("From: a@example.org\nSubject: hi\n\nbody\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkInvariants(t, msg)
	})
}

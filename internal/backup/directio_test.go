package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
)

// PutPadded writes the object's exact bytes whether O_DIRECT takes it
// (aligned, room to pad) or not (a small one, an unaligned one).
func TestPutPaddedExactBytes(t *testing.T) {
	ctx := context.Background()
	d := NewDirTarget(t.TempDir())
	buf := make([]byte, bufSize)
	for i, n := range []int{10, directMin - 1, directMin, directMin + 1, ChunkSize + 301} {
		data := buf[:n]
		rand.Read(data)
		want := bytes.Clone(data)
		if n >= directMin && oDirect != 0 && !directOK(data) {
			t.Errorf("%d bytes in a worker's buffer: not fit for O_DIRECT", n)
		}
		for j, in := range [][]byte{data, append([]byte{0}, data...)[1:]} { // aligned, then not
			name := objectPath(string(rune('a'+i)) + string(rune('a'+j)) + "object")
			if err := d.PutPadded(ctx, name, in); err != nil {
				t.Fatal(err)
			}
			got, err := d.Get(ctx, name)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes (%d): read back %d bytes, %v", n, j, len(got), err)
			}
		}
	}
	if err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

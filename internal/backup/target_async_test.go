package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// PutAsync's objects are all there, whole, once Sync returns; the
// caller's buffer is free as soon as PutAsync returns.
func TestPutAsyncDurableBySync(t *testing.T) {
	ctx := context.Background()
	d := NewDirTarget(t.TempDir())
	buf := make([]byte, 100<<10)
	for i := range 200 {
		for j := range buf {
			buf[j] = byte(i)
		}
		if err := d.PutAsync(ctx, objectPath(fmt.Sprintf("%04x-object", i)), buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		got, err := d.Get(ctx, objectPath(fmt.Sprintf("%04x-object", i)))
		if err != nil || len(got) != len(buf) || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, len(buf))) {
			t.Fatalf("object %d: %d bytes, %v", i, len(got), err)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(d.Root, "objects", "*", ".*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// A failure after PutAsync returned (here the rename) comes back from
// Sync, and the object has no name.
func TestPutAsyncFailureFromSync(t *testing.T) {
	ctx := context.Background()
	d := NewDirTarget(t.TempDir())
	name := objectPath("ab-blocked")
	blocker := filepath.Join(d.Root, filepath.FromSlash(name), "x")
	if err := os.MkdirAll(blocker, 0o700); err != nil { // a non-empty directory under the name
		t.Fatal(err)
	}
	if err := d.PutAsync(ctx, name, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded with an object that could not be renamed")
	}
	if err := d.PutAsync(ctx, objectPath("cd-next"), []byte("data")); err == nil {
		t.Error("PutAsync after a failure succeeded")
	}
}

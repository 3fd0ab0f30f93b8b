package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// chunkedBlob stores data as a chunked blob of a PostgreSQL store and
// returns its name.
func chunkedBlob(t *testing.T, s *Store, data []byte) string {
	t.Helper()
	path := s.bodyPath("chunk-test")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	name, _, err := s.storeBlob(context.Background(), path, int64(len(data)), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func openChunks(t *testing.T, s *Store, name string, size int64) BodyReader {
	t.Helper()
	r, ok, err := s.openBlob(context.Background(), name, size)
	if !ok || err != nil {
		t.Fatalf("opening %s: %v %v", name, ok, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// A body in chunk rows reads at any offset: across a chunk boundary, at
// one, in the short last chunk and past the end, in order after a Seek,
// and whole.
func TestAChunkedBodyReadsAtAnyOffset(t *testing.T) {
	s := openShared(t, BodyStoreDB)
	data := bigMessage(3*bodyChunkSize + 12345)
	size := int64(len(data))
	name := chunkedBlob(t, s, data)
	r := openChunks(t, s, name, size)

	for _, c := range []struct {
		off int64
		n   int
	}{
		{0, 100}, {bodyChunkSize - 10, 20}, {bodyChunkSize, 1}, {2*bodyChunkSize - 1, bodyChunkSize + 2},
		{3 * bodyChunkSize, 12345}, {size - 7, 7},
	} {
		p := make([]byte, c.n)
		n, err := r.ReadAt(p, c.off)
		if n != c.n || err != nil || !bytes.Equal(p, data[c.off:c.off+int64(c.n)]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; or other bytes", c.n, c.off, n, err)
		}
	}
	p := make([]byte, 100)
	if n, err := r.ReadAt(p, size-40); n != 40 || !errors.Is(err, io.EOF) || !bytes.Equal(p[:40], data[size-40:]) {
		t.Errorf("ReadAt over the end = %d, %v; want 40, EOF", n, err)
	}
	if n, err := r.ReadAt(p, size); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at the end = %d, %v", n, err)
	}
	if _, err := r.Seek(-100, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data[size-100:]) {
		t.Errorf("after Seek(-100, end): %d bytes, %v", len(got), err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Errorf("whole: %d of %d bytes, %v", len(got), size, err)
	}
	sec := io.NewSectionReader(r, bodyChunkSize-5, 10)
	if got, err := io.ReadAll(sec); err != nil || !bytes.Equal(got, data[bodyChunkSize-5:bodyChunkSize+5]) {
		t.Errorf("section across a boundary: %q, %v", got, err)
	}
}

// A read needs only the chunks it covers: with chunk 1 gone, the end of
// the body still reads, and a read in chunk 1 is an error naming the
// blob and the chunk. A chunk of the wrong length is an error too.
func TestAChunkedBodyReadsOnlyTheChunksItNeedsAndNamesAMissingOne(t *testing.T) {
	s := openShared(t, BodyStoreDB)
	data := bigMessage(3*bodyChunkSize + 500)
	size := int64(len(data))
	name := chunkedBlob(t, s, data)
	ctx := context.Background()
	if _, err := s.bdb.ExecContext(ctx, "DELETE FROM body_chunks WHERE name = ? AND seq = 1", name); err != nil {
		t.Fatal(err)
	}
	r := openChunks(t, s, name, size)
	p := make([]byte, 1000)
	// Chunks 2 and 3: fine, chunk 1 is not read.
	if n, err := r.ReadAt(p, 3*bodyChunkSize-500); n != 1000 || err != nil || !bytes.Equal(p, data[3*bodyChunkSize-500:3*bodyChunkSize+500]) {
		t.Errorf("the end without chunk 1: %d, %v", n, err)
	}
	_, err := r.ReadAt(p, bodyChunkSize+10)
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "chunk 1 is missing") {
		t.Errorf("reading the missing chunk: %v, want an error naming %s and its chunk 1", err, name)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("reading it whole: %v", err)
	}

	// The last chunk cut short.
	if _, err := s.bdb.ExecContext(ctx, "UPDATE body_chunks SET data = substring(data from 1 for 100) WHERE name = ? AND seq = 3", name); err != nil {
		t.Fatal(err)
	}
	r = openChunks(t, s, name, size)
	want := fmt.Sprintf("chunk 3 has 100 bytes, want %d", size-3*bodyChunkSize)
	if _, err := r.ReadAt(p[:10], size-10); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("reading a short last chunk: %v", err)
	}
}

// OpenBody gives a reader at offsets for every kind of body: one kept in
// its row, a body file, a shared blob.
func TestOpenBodyReadsAtAnOffsetWhereverTheBodyIs(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := newAccount(t, s, "me@example.test")
	small := []byte("Subject: small\r\n\r\nhello there\r\n")
	big := bigMessage(DefaultFileBodyMin + 3*bodyChunkSize/2)
	for _, m := range [][]byte{small, big} {
		if err := s.Deliver(ctx, Delivery{Data: m, Local: []LocalTarget{{AccountID: a.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	mb, _ := s.MailboxByName(ctx, a.ID, "INBOX")
	msgs, err := s.Messages(ctx, mb.ID, 1, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %v %v", msgs, err)
	}
	for i, want := range [][]byte{small, big} {
		r, size, err := s.OpenBody(ctx, msgs[i].BodyID)
		if err != nil {
			t.Fatal(err)
		}
		if size != int64(len(want)) {
			t.Errorf("message %d: size %d, want %d", i+1, size, len(want))
		}
		off := size / 2
		p := make([]byte, 10)
		if n, err := r.ReadAt(p, off); n != 10 || err != nil || !bytes.Equal(p, want[off:off+10]) {
			t.Errorf("message %d: ReadAt(10 at %d) = %d, %v", i+1, off, n, err)
		}
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, want[off:]) {
			t.Errorf("message %d: the second half: %d bytes, %v", i+1, len(got), err)
		}
		r.Close()
	}

	// LoadMessages with BodyStream: the small one whole, the large one
	// only its header, marked Streamed.
	lm, err := s.LoadMessages(ctx, mb.ID, []uint32{msgs[0].UID, msgs[1].UID}, BodyStream)
	if err != nil || len(lm) != 2 {
		t.Fatalf("LoadMessages(BodyStream): %v", err)
	}
	if lm[0].Streamed || !bytes.Equal(lm[0].Data, small) {
		t.Errorf("the small message: streamed %v, %q", lm[0].Streamed, lm[0].Data)
	}
	hdr := big[:bytes.Index(big, []byte("\r\n\r\n"))+4]
	if !lm[1].Streamed || !bytes.Equal(lm[1].Data, hdr) {
		t.Errorf("the large message: streamed %v, %d bytes of data (its header is %d)", lm[1].Streamed, len(lm[1].Data), len(hdr))
	}
}

package backup

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"

	"filippo.io/age"
)

// The CPU cost per chunk of what a backup and a restore do to every
// byte (bench/results/backup-2026-12-06.md): hash, encrypt, decrypt.

func benchChunk(b *testing.B) ([]byte, *sealer, *age.X25519Identity) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, ChunkSize)
	if _, err := rand.Read(plain); err != nil {
		b.Fatal(err)
	}
	return plain, &sealer{recipient: id.Recipient(), nameKey: make([]byte, 32)}, id
}

func BenchmarkChunkSHA256(b *testing.B) {
	plain, s, _ := benchChunk(b)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		_ = s.name(sha256.Sum256(plain))
	}
}

func BenchmarkChunkSeal(b *testing.B) {
	plain, s, _ := benchChunk(b)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := s.seal(plain); err != nil {
			b.Fatal(err)
		}
	}
}

// As the uploader does it: one output buffer reused.
func BenchmarkChunkSealReused(b *testing.B) {
	plain, s, _ := benchChunk(b)
	out := make([]byte, bufSize)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := s.sealInto(out, plain); err != nil {
			b.Fatal(err)
		}
	}
}

// What the uploader did before 2026-12-07: age's own writer into a
// reused buffer.
func BenchmarkChunkSealAgeWriter(b *testing.B) {
	plain, s, _ := benchChunk(b)
	var out bytes.Buffer
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		out.Reset()
		w, err := age.Encrypt(&out, s.recipient)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// What a restore did before 2026-12-07: age.DecryptReaderAt into a
// reused buffer.
func BenchmarkChunkOpenAgeReaderAt(b *testing.B) {
	plain, s, id := benchChunk(b)
	sealed, err := s.seal(plain)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, len(plain))
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		r, _, err := age.DecryptReaderAt(bytes.NewReader(sealed), int64(len(sealed)), id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadAt(buf, 0); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkOpen(b *testing.B) {
	plain, s, id := benchChunk(b)
	sealed, err := s.seal(plain)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := open(sealed, []age.Identity{id}); err != nil {
			b.Fatal(err)
		}
	}
}

// As a restore does it: one plaintext buffer reused.
func BenchmarkChunkOpenReused(b *testing.B) {
	plain, s, id := benchChunk(b)
	sealed, err := s.seal(plain)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if buf, err = openInto(buf, sealed, []age.Identity{id}); err != nil {
			b.Fatal(err)
		}
	}
}

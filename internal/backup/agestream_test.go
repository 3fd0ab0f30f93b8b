package backup

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"

	"filippo.io/age"
)

// The sizes around the 64 KiB piece boundaries, and a chunk's.
var ageTestSizes = []int{0, 1, streamPiece - 1, streamPiece, streamPiece + 1, 2 * streamPiece, 3*streamPiece + 17, ChunkSize, ChunkSize + 1}

func ageTestKeys(t *testing.T) (*age.X25519Identity, []age.Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, []age.Identity{id}
}

// What sealAge writes, age's own reader reads back.
func TestSealAgeReadByAge(t *testing.T) {
	id, _ := ageTestKeys(t)
	buf := make([]byte, bufSize)
	for _, n := range ageTestSizes {
		plain := make([]byte, n)
		rand.Read(plain)
		sealed, err := sealAge(buf, id.Recipient(), plain)
		if err != nil {
			t.Fatal(err)
		}
		if n <= ChunkSize && &sealed[0] != &buf[0] {
			t.Errorf("%d bytes: sealed outside the buffer given", n)
		}
		r, err := age.Decrypt(bytes.NewReader(sealed), id)
		if err != nil {
			t.Fatalf("%d bytes: age.Decrypt: %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: age.Decrypt read %d bytes, %v", n, len(got), err)
		}
		if want, err := ageEncrypt(id.Recipient(), plain); err != nil || len(want) != len(sealed) {
			t.Errorf("%d bytes: sealAge wrote %d bytes, age %d (%v)", n, len(sealed), len(want), err)
		}
	}
}

func ageEncrypt(r age.Recipient, plain []byte) ([]byte, error) {
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// What age writes, openAge reads; and sealAge's own output.
func TestOpenAge(t *testing.T) {
	id, ids := ageTestKeys(t)
	dst := make([]byte, bufSize)
	for _, n := range ageTestSizes {
		plain := make([]byte, n)
		rand.Read(plain)
		byAge, err := ageEncrypt(id.Recipient(), plain)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := sealAge(nil, id.Recipient(), plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, sealed := range [][]byte{byAge, ours} {
			got, err := openAge(dst, sealed, ids)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes: openAge: %d bytes, %v", n, len(got), err)
			}
		}
	}
}

// A cut, a dropped piece, a changed byte, a wrong identity: each fails.
func TestOpenAgeRefusesDamage(t *testing.T) {
	id, ids := ageTestKeys(t)
	plain := make([]byte, 3*streamPiece+100)
	rand.Read(plain)
	sealed, err := sealAge(nil, id.Recipient(), plain)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := age.ExtractHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	start := len(hdr) + streamNonceLen
	other, _ := ageTestKeys(t)
	for name, c := range map[string]struct {
		data []byte
		ids  []age.Identity
	}{
		"cut at a piece boundary": {sealed[:start+2*sealedPiece], ids},
		"last piece cut":          {sealed[:len(sealed)-1], ids},
		"cut to the nonce":        {sealed[:start], ids},
		"second piece dropped":    {append(bytes.Clone(sealed[:start+sealedPiece]), sealed[start+2*sealedPiece:]...), ids},
		"byte changed":            {flipByte(sealed, start+sealedPiece+5), ids},
		"nonce changed":           {flipByte(sealed, start-1), ids},
		"wrong identity":          {sealed, []age.Identity{other}},
	} {
		if got, err := openInto(nil, c.data, c.ids); err == nil {
			t.Errorf("%s: opened, %d bytes", name, len(got))
		}
	}
	if got, err := openInto(nil, sealed, ids); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("the undamaged object: %v", err)
	}
}

func flipByte(data []byte, i int) []byte {
	d := bytes.Clone(data)
	d[i] ^= 1
	return d
}

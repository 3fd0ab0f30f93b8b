package backup

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The payload of an age v1 file (c2sp.org/age, "Payload"), sealed and
// opened in the caller's buffers. age's header, its file key and its
// MAC come from age itself (age.Encrypt, age.ExtractHeader,
// age.DecryptHeader); what is done here is the STREAM that follows the
// header: a 16-byte nonce, then the plaintext in 64 KiB pieces, each
// sealed with ChaCha20-Poly1305 under HKDF-SHA-256(file key, nonce,
// "payload"), the AEAD nonce an 11-byte big-endian counter and a last
// byte of 1 for the final piece, 0 before it. age's own writer and
// reader copy every piece twice through buffers of their own and
// allocate per piece; this seals from the plaintext straight into the
// output and opens from the object straight into the plaintext buffer
// (bench/results/backup-2026-12-07.md). The bytes are the format's: the
// tests decrypt them with age.Decrypt, and the e2e with the age CLI.

const (
	streamPiece    = 64 << 10 // plaintext bytes a STREAM piece
	streamNonceLen = 16
	sealedPiece    = streamPiece + chacha20poly1305.Overhead
)

// keyCatcher is the box's age recipient, keeping the file key that
// age.Encrypt made (a new random one each call) to seal the payload
// with: the header and its stanza are age's own.
type keyCatcher struct {
	r   age.Recipient
	key []byte
}

func (k *keyCatcher) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	k.key = append(k.key[:0], fileKey...)
	return k.r.Wrap(fileKey)
}

// appendWriter appends what is written to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// sealedSize is the size of the payload after the header for n bytes of
// plaintext: the nonce, then each piece with its 16-byte tag.
func sealedSize(n int) int {
	pieces := max(1, (n+streamPiece-1)/streamPiece)
	return streamNonceLen + n + pieces*chacha20poly1305.Overhead
}

// sealAge encrypts plain to r as one age file, in dst's storage when
// it is large enough (dst's contents are lost).
func sealAge(dst []byte, r age.Recipient, plain []byte) ([]byte, error) {
	kc := &keyCatcher{r: r}
	w := &appendWriter{b: dst[:0]}
	// The header, then the nonce; the returned writer is left unused
	// (the payload is sealed below) and holds nothing to release.
	if _, err := age.Encrypt(w, kc); err != nil {
		return nil, err
	}
	if len(kc.key) == 0 || len(w.b) < streamNonceLen {
		return nil, errors.New("age wrote no header")
	}
	out := w.b
	if need := len(out) - streamNonceLen + sealedSize(len(plain)); cap(out) < need {
		out = append(make([]byte, 0, need), out...)
	}
	aead, err := payloadAEAD(kc.key, out[len(out)-streamNonceLen:])
	if err != nil {
		return nil, err
	}
	var nonce [chacha20poly1305.NonceSize]byte
	for {
		piece := plain[:min(len(plain), streamPiece)]
		plain = plain[len(piece):]
		if len(plain) == 0 { // the final piece (empty only when the whole is)
			nonce[len(nonce)-1] = 1
			return aead.Seal(out, nonce[:], piece, nil), nil
		}
		out = aead.Seal(out, nonce[:], piece, nil)
		incNonce(&nonce)
	}
}

// payloadAEAD is the cipher of an age payload.
func payloadAEAD(fileKey, nonce []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.New(key)
}

// incNonce adds one to the 11-byte counter of a STREAM nonce.
func incNonce(n *[chacha20poly1305.NonceSize]byte) {
	for i := len(n) - 2; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return
		}
	}
	panic("age STREAM counter wrapped") // 2^88 pieces: unreachable
}

// errNotCanonical marks an age file whose header age writes back in
// other bytes: openAge leaves it to age's own reader.
var errNotCanonical = errors.New("age header not in its canonical form")

// openAge decrypts an age file (as sealAge or age writes them) into
// dst's storage when it is large enough: header and file key through
// age, then every piece checked, the last one's flag included, so a
// cut, a piece dropped or one byte changed fails.
func openAge(dst, data []byte, ids []age.Identity) ([]byte, error) {
	hdr, err := age.ExtractHeader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, hdr) {
		return nil, errNotCanonical
	}
	fileKey, err := age.DecryptHeader(hdr, ids...)
	if err != nil {
		return nil, err
	}
	rest := data[len(hdr):]
	if len(rest) < streamNonceLen {
		return nil, fmt.Errorf("age payload: %w", io.ErrUnexpectedEOF)
	}
	payload := rest[streamNonceLen:]
	size, err := openedSize(len(payload))
	if err != nil {
		return nil, err
	}
	aead, err := payloadAEAD(fileKey, rest[:streamNonceLen])
	if err != nil {
		return nil, err
	}
	if cap(dst) < size {
		dst = make([]byte, 0, size)
	}
	out := dst[:0]
	var nonce [chacha20poly1305.NonceSize]byte
	for i := 0; ; i++ {
		piece := payload[:min(len(payload), sealedPiece)]
		payload = payload[len(piece):]
		last := len(payload) == 0
		if last {
			nonce[len(nonce)-1] = 1
		}
		if out, err = aead.Open(out, nonce[:], piece, nil); err != nil {
			return nil, fmt.Errorf("age payload, piece %d: %w", i, err)
		}
		if last {
			return out, nil
		}
		incNonce(&nonce)
	}
}

// openedSize is the plaintext size of an age payload of n bytes (after
// the nonce), or an error when no payload has that size: every piece
// but the last full, the last one empty only when it is the only one.
func openedSize(n int) (int, error) {
	if n < chacha20poly1305.Overhead {
		return 0, errors.New("age payload too short")
	}
	pieces := (n + sealedPiece - 1) / sealedPiece
	last := n - (pieces-1)*sealedPiece
	if last < chacha20poly1305.Overhead || (pieces > 1 && last == chacha20poly1305.Overhead) {
		return 0, errors.New("age payload of an impossible size (cut?)")
	}
	return n - pieces*chacha20poly1305.Overhead, nil
}

package backup

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"boxmail/internal/store"
)

// StateDir is this package's directory inside the data directory.
const StateDir = "backup"

// settingsFile held Settings in earlier versions (DIR/backup/
// settings.json); a box without settings in its store imports it once.
const settingsFile = "settings.json"

// settingsName is the settings' name among the store's box secrets:
// every node of a box backs up to the same target with the same keys,
// and the settings travel inside each snapshot's database (so a restored
// box goes on deduplicating against the same target).
const settingsName = "backup.settings"

// Settings are a box's backup setup: where to, to whom, and the key of
// the object names. No secret key of the recipient is ever here.
type Settings struct {
	Target    string `json:"target"`
	Recipient string `json:"recipient"` // age1...
	NameKey   string `json:"name_key"`  // hex, 32 bytes
	Created   time.Time
}

func settingsPath(dataDir string) string { return filepath.Join(dataDir, StateDir, settingsFile) }

// LoadSettings reads the backup setup of a box from its store;
// ErrNotConfigured when there is none. A store without one takes that
// of the data dir's backup/settings.json (earlier versions), once.
func LoadSettings(ctx context.Context, st *store.Store, dataDir string) (Settings, error) {
	var s Settings
	text, ok, err := st.BoxSecret(ctx, settingsName)
	if err != nil {
		return s, err
	}
	where := "the backup settings in the store"
	if !ok {
		p := settingsPath(dataDir)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return s, ErrNotConfigured
		}
		if err != nil {
			return s, err
		}
		if err := parseSettings(data, &s); err != nil {
			return s, fmt.Errorf("%s: %w", p, err)
		}
		if text, err = st.AddBoxSecret(ctx, settingsName, string(data)); err != nil {
			return s, err
		}
	}
	if err := parseSettings([]byte(text), &s); err != nil {
		return s, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}

// parseSettings reads settings and checks their keys.
func parseSettings(data []byte, s *Settings) error {
	if err := json.Unmarshal(data, s); err != nil {
		return err
	}
	if _, err := age.ParseX25519Recipient(s.Recipient); err != nil {
		return fmt.Errorf("recipient: %w (run 'boxmail backup init --force')", err)
	}
	if k, err := hex.DecodeString(s.NameKey); err != nil || len(k) != 32 {
		return errors.New("name key is not 64 hex digits")
	}
	return nil
}

// Init sets up backups of a box to target: it makes a new age identity
// and a name key, stores the target, the public recipient and the name
// key in the box's store, and returns the identity (its only copy). An
// existing setup is kept unless force is set.
func Init(ctx context.Context, st *store.Store, dataDir, target string, force bool) (*age.X25519Identity, Settings, error) {
	exists := errors.New("backups are already set up for this box (a new identity would not read the old snapshots): add --force to replace the setup")
	if _, err := LoadSettings(ctx, st, dataDir); err == nil && !force {
		return nil, Settings{}, exists
	} else if err != nil && !errors.Is(err, ErrNotConfigured) && !force {
		return nil, Settings{}, err
	}
	t, err := Open(target)
	if err != nil {
		return nil, Settings{}, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, Settings{}, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, Settings{}, err
	}
	spec := t.String() // a directory, made absolute
	if _, ok := t.(*S3Target); ok {
		spec = target // with its credentials
	}
	s := Settings{Target: spec, Recipient: id.Recipient().String(), NameKey: hex.EncodeToString(key), Created: time.Now().UTC()}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, Settings{}, err
	}
	if force {
		err = st.PutBoxSecret(ctx, settingsName, string(data))
	} else if stored, aerr := st.AddBoxSecret(ctx, settingsName, string(data)); aerr != nil {
		err = aerr
	} else if stored != string(data) { // another node's init came first
		err = exists
	}
	if err != nil {
		return nil, Settings{}, err
	}
	return id, s, nil
}

// IdentityText is the identity file age-keygen would write.
func IdentityText(id *age.X25519Identity, created time.Time) string {
	return fmt.Sprintf("# boxmail backup identity, created: %s\n# public key: %s\n%s\n",
		created.UTC().Format(time.RFC3339), id.Recipient(), id)
}

// Identity is what decrypts backups (an age identity).
type Identity = age.Identity

// ReadIdentity reads an age identity file (as IdentityText writes it).
func ReadIdentity(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return ids, nil
}

// sealer encrypts to the box's recipient and names plaintexts.
type sealer struct {
	recipient age.Recipient
	nameKey   []byte
}

func newSealer(s Settings) (*sealer, error) {
	r, err := age.ParseX25519Recipient(s.Recipient)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(s.NameKey)
	if err != nil {
		return nil, err
	}
	return &sealer{recipient: r, nameKey: k}, nil
}

// name is the object name of a plaintext, given its SHA-256: the HMAC
// of the digest (one pass over the bytes serves both).
func (s *sealer) name(sum [sha256.Size]byte) string {
	m := hmac.New(sha256.New, s.nameKey)
	m.Write(sum[:])
	return hex.EncodeToString(m.Sum(nil))
}

func (s *sealer) seal(plain []byte) ([]byte, error) {
	return sealAge(nil, s.recipient, plain)
}

// sealInto encrypts plain into dst's storage when it is large enough, so
// a caller can reuse one buffer: a new 1 MiB buffer a chunk cost the
// backup a sixth of its CPU in zeroing and collecting them. The payload
// is sealed straight into it (sealAge): age's writer copied every piece
// twice and grew its buffer once an object.
func (s *sealer) sealInto(dst, plain []byte) ([]byte, error) {
	return sealAge(dst, s.recipient, plain)
}

// macNames is the HMAC line that ends a .names file.
func macNames(key []byte, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("boxmail backup names v1\n"))
	m.Write(body)
	return "mac " + hex.EncodeToString(m.Sum(nil)) + "\n"
}

// open decrypts an object.
func open(data []byte, ids []age.Identity) ([]byte, error) {
	return openInto(nil, data, ids)
}

// openInto decrypts an object into dst's storage when it is large
// enough: one buffer, reused across chunks, each piece opened from the
// object straight into it (openAge). A file whose header age would
// write in other bytes (none boxmail wrote) goes through
// age.DecryptReaderAt instead.
func openInto(dst, data []byte, ids []age.Identity) ([]byte, error) {
	plain, err := openAge(dst, data, ids)
	if !errors.Is(err, errNotCanonical) {
		return plain, err
	}
	r, size, err := age.DecryptReaderAt(bytes.NewReader(data), int64(len(data)), ids...)
	if err != nil {
		return nil, err
	}
	if int64(cap(dst)) < size {
		dst = make([]byte, size)
	}
	dst = dst[:size]
	n, err := r.ReadAt(dst, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n != len(dst) {
		return nil, io.ErrUnexpectedEOF
	}
	return dst, nil
}

// holdsSecretKey tells whether a file's bytes hold an age identity.
func holdsSecretKey(data []byte) bool {
	return bytes.Contains(data, []byte("AGE-SECRET-KEY-1"))
}

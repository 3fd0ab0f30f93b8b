// Package backup copies a running box into an encrypted, content-addressed,
// incremental object store and brings it back: 'boxmail backup' and
// 'boxmail restore' are flags around it. It is not the export of one
// user's mail (mbox/Maildir) and it issues no SQL: the database snapshot
// and its integrity check come from store (SnapshotDB, CheckSnapshot).
//
// # What a snapshot holds
//
// The database (a consistent copy taken beside the running server, which
// holds this package's settings: LoadSettings), every body file the copy
// references, and every other regular file of the data directory:
// boxmail.conf, the TLS pair, keys/ (the TOTP sealing key). Left out:
// the live database files, this package's directory (the backup cache,
// the staging area), temporary files, and any file holding an
// age secret key ("AGE-SECRET-KEY-1"): the backup identity never goes into
// a backup. Body files are named at random and never change once written,
// so the cache (backup/cache.json: path, size, mtime -> chunks) lets a run
// skip reading the ones already stored.
//
// # Target layout
//
//	objects/XX/NAME        one chunk (at most ChunkSize bytes of one file), age-encrypted
//	snapshots/ID.names     the objects of snapshot ID, "NAME SIZE" a line (SIZE: as stored), then "mac HEX"
//	snapshots/ID.manifest  the manifest (JSON, Manifest), age-encrypted
//	runs/ID                a run in progress (its start time), removed at its end
//
// Every file is cut into fixed ChunkSize pieces. The database copy is
// page for page the live file (store.SnapshotDB), so after a day of mail
// only the chunks around changed pages are new.
//
// # Names and keys
//
// Objects and manifests are encrypted with filippo.io/age to the X25519
// recipient that 'backup init' printed the identity of, so the stock age
// CLI decrypts any of them (age -d -i KEYFILE). The box keeps only the
// recipient: a stolen server cannot read its backups. The header and the
// file key are age's; the payload after it is sealed and opened in the
// workers' buffers (agestream.go), byte for byte the age format.
//
// An object's NAME is HMAC-SHA256, under a random 32-byte name key, of
// the SHA-256 of its plaintext (so one pass over the bytes gives both the
// manifest's hash and the name): a keyed hash of the content, under a
// key made at init and kept in the box's store with the target and the
// recipient (every node of a box uses them; they travel inside the
// backups' database, so a restored box goes on deduplicating against the
// same target). A plain SHA-256 would let whoever reads the
// target confirm that a known file (a newsletter, a photo) is in the
// backup; the recipient is a public key meant to be shown, so a key
// derived from it would not hide anything either. Restore does not need
// the name key: the manifest holds each chunk's SHA-256 and it is checked.
// The .names file is in clear (it says nothing the object listing does
// not) with an HMAC under the name key, so 'backup verify' checks that
// every object of every snapshot is present, with the size it was
// stored with, without the identity.
//
// # Verify
//
// Three depths (VerifyOptions): presence (each .names list's MAC, each
// object listed with its recorded size: one listing of the target, run
// after every scheduled backup); read (every object and manifest
// downloaded and checked to be a whole age file: header, MAC line, a
// payload length the format allows; no identity needed, run weekly by
// the schedule); full (every object decrypted and re-hashed against its
// name and the manifest, each snapshot's database rebuilt and checked;
// needs the identity: weekly when backup_verify_identity names it).
// Only full sees a byte changed inside an object or a manifest cut in
// its payload; the AEAD and the hashes catch those.
//
// # Order and memory
//
// A run lists the body files and hands them to the workers (RunOptions.
// Workers, 8 by default) at once, copies the database meanwhile, then
// queues the copy's chunks ahead of the body files still waiting, one
// task a chunk, so that every worker takes a part of the largest file;
// the copy's integrity check (table by table) runs beside. A restore
// queues the database's chunks first, checks the database as soon as it
// is whole, beside the body files still being written. The memory is
// bounded by the workers, not the box: each holds two buffers of a
// little more than ChunkSize (a chunk and its encrypted form, reused),
// 17 MiB for 8; what grows with the box is the file list (the manifest,
// ~150 bytes a file) and the queue (a closure a file). 'backup run' and
// 'restore' hold the Go heap under a soft limit (cmd/boxmail).
//
// # Durability
//
// Objects are written before the .names file, and that before the
// manifest, each through a temporary file, fsync and rename (an object's
// fsync and rename run beside the worker's next chunk: target_async.go);
// the directories are fsynced (Target.Sync, which first waits for every
// object) before the manifest is written and after. A run killed at any point leaves the earlier
// snapshots whole, and the next run uploads only what is missing. A
// snapshot exists once its manifest does.
package backup

import (
	"errors"
	"fmt"
	"time"
)

// ChunkSize is the size of the pieces files are cut into.
const ChunkSize = 1 << 20

// FormatVersion is the manifest format this package writes.
const FormatVersion = 1

// Manifest describes one snapshot. It is stored encrypted.
type Manifest struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Version string    `json:"version"` // of the binary that made it
	Schema  int       `json:"schema"`  // the database's schema version
	// DatabaseSHA256 is the hex SHA-256 of the database copy.
	DatabaseSHA256 string `json:"database_sha256"`
	// Objects counts the distinct objects the snapshot needs.
	Objects  int    `json:"objects"`
	Bytes    int64  `json:"bytes"` // sum of the file sizes
	Messages int64  `json:"messages"`
	Files    []File `json:"files"`
}

// File is one file of a snapshot, by its path under the data directory.
type File struct {
	Path   string      `json:"path"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`
	Mode   uint32      `json:"mode"`
	Chunks []ChunkInfo `json:"chunks"`
}

// ChunkInfo is one piece of a file: the object holding it, its size and
// the SHA-256 of its plaintext.
type ChunkInfo struct {
	Object string `json:"object"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// DatabasePath is the database's path in a snapshot.
const DatabasePath = "boxmail.db"

// Errors callers test for.
var (
	ErrNotConfigured = errors.New("backups are not set up: run 'boxmail backup init --to TARGET' first")
	ErrNoSnapshot    = errors.New("no snapshot")
	ErrBusy          = errors.New("another backup of this box is running")
)

// ObjectError is a problem with one object of a snapshot: missing,
// unreadable, not decryptable or not the bytes the manifest names.
type ObjectError struct {
	Snapshot string
	Path     string // the file it is a piece of, when known
	Object   string
	Err      error
}

func (e *ObjectError) Error() string {
	where := ""
	if e.Path != "" {
		where = " (" + e.Path + ")"
	}
	return fmt.Sprintf("snapshot %s: object %s%s: %s", e.Snapshot, objectPath(e.Object), where, e.Err.Error())
}

func (e *ObjectError) Unwrap() error { return e.Err }

func objectPath(name string) string {
	if len(name) < 2 {
		return "objects/" + name
	}
	return "objects/" + name[:2] + "/" + name
}

func manifestPath(id string) string { return "snapshots/" + id + ".manifest" }
func namesPath(id string) string    { return "snapshots/" + id + ".names" }

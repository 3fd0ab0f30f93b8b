package store

// Migration 31 (issue 23 phase 2b): message bodies shared by every node
// of a box on PostgreSQL (bodystore.go). Each form is a self-contained
// constant, so renumbering at a merge is a one-line move in schema.go
// and pgschema.go.

// bodyStoreSchema is migration 31's SQLite form. A SQLite box keeps its
// large bodies in files (bodyfile.go) and never fills these tables; they
// exist so that both engines have the same tables, which `boxmail store
// copy` relies on, and the index serves the file check of the sweep.
const bodyStoreSchema = `
CREATE TABLE IF NOT EXISTS body_chunks ( -- IF NOT EXISTS: tests that roll the version back keep it
	name TEXT NOT NULL,    -- the blob's name as bodies.file holds it ("db:" + SHA-256 hex)
	seq  INTEGER NOT NULL, -- 0, 1, ...: the chunk's place in the blob
	data BLOB NOT NULL,    -- at most bodyChunkSize bytes
	PRIMARY KEY (name, seq)
);
CREATE TABLE IF NOT EXISTS blob_pins (
	name  TEXT NOT NULL,    -- a shared blob being written: GC leaves it alone until at + orphanAge
	token TEXT NOT NULL,    -- the writer's own pin, deleted with the commit of the row naming the blob
	at    INTEGER NOT NULL, -- unix seconds
	PRIMARY KEY (name, token)
);
CREATE INDEX IF NOT EXISTS bodies_file ON bodies(file) WHERE file IS NOT NULL;
`

// pgBodyStoreSchema is migration 31's PostgreSQL form.
const pgBodyStoreSchema = `
CREATE TABLE body_chunks (
	name TEXT NOT NULL,
	seq  BIGINT NOT NULL,
	data BYTEA NOT NULL,
	PRIMARY KEY (name, seq)
);
CREATE TABLE blob_pins (
	name  TEXT NOT NULL,
	token TEXT NOT NULL,
	at    BIGINT NOT NULL,
	PRIMARY KEY (name, token)
);
CREATE INDEX bodies_file ON bodies(file) WHERE file IS NOT NULL;
`

package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; the index+1 is the schema version
// stored in PRAGMA user_version. Never edit a released migration: append.
//
// These are SQLite's. PostgreSQL's schema starts at version 27 in one
// step (pgSchema, pgschema.go), so from migration 28 on every migration
// is written twice, at the same number: its SQLite form appended here,
// its PostgreSQL form appended to pgMigrations (BIGINT for INTEGER, BYTEA
// for BLOB, identity columns for rowids, trigger functions for
// triggers). TestEveryMigrationHasAPostgreSQLForm fails until both exist.
var migrations = []string{
	// 1: the core schema.
	`
CREATE TABLE domains (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL
);
CREATE TABLE accounts (
	id        INTEGER PRIMARY KEY,
	email     TEXT NOT NULL UNIQUE,
	domain_id INTEGER NOT NULL REFERENCES domains(id),
	pwhash    TEXT NOT NULL,
	admin     INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL
);
CREATE TABLE aliases (
	id        INTEGER PRIMARY KEY,
	address   TEXT NOT NULL UNIQUE, -- "local@domain" or "@domain" (catch-all)
	domain_id INTEGER NOT NULL REFERENCES domains(id),
	targets   TEXT NOT NULL,        -- comma-separated addresses
	permit    TEXT NOT NULL DEFAULT '', -- comma-separated account emails
	created   INTEGER NOT NULL
);
CREATE TABLE mailboxes (
	id          INTEGER PRIMARY KEY,
	account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	uidnext     INTEGER NOT NULL DEFAULT 1,
	modseq      INTEGER NOT NULL DEFAULT 1,
	special_use TEXT NOT NULL DEFAULT '',
	subscribed  INTEGER NOT NULL DEFAULT 1,
	UNIQUE (account_id, name)
);
CREATE TABLE bodies (
	id    INTEGER PRIMARY KEY,
	refs  INTEGER NOT NULL DEFAULT 0,
	size  INTEGER NOT NULL,
	data  BLOB NOT NULL
);
CREATE TABLE messages (
	id         INTEGER PRIMARY KEY,
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        INTEGER NOT NULL,
	body_id    INTEGER NOT NULL REFERENCES bodies(id),
	flags      INTEGER NOT NULL DEFAULT 0, -- bit set of system flags, see Flag*
	keywords   TEXT,                       -- space-separated, NULL when none
	idate      INTEGER NOT NULL,           -- internal date, unix seconds
	size       INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	UNIQUE (mailbox_id, uid)
);
CREATE TRIGGER messages_ref_ins AFTER INSERT ON messages BEGIN
	UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
END;
CREATE TRIGGER messages_ref_del AFTER DELETE ON messages BEGIN
	UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
	DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
END;
CREATE TABLE queue (
	id           INTEGER PRIMARY KEY,
	sender       TEXT NOT NULL,
	recipients   TEXT NOT NULL, -- comma-separated
	body_id      INTEGER NOT NULL REFERENCES bodies(id),
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER queue_ref_ins AFTER INSERT ON queue BEGIN
	UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
END;
CREATE TRIGGER queue_ref_del AFTER DELETE ON queue BEGIN
	UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
	DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
END;
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`,
	// 2: DKIM keys per domain, and custom DNS records.
	`
CREATE TABLE dkim_keys (
	id        INTEGER PRIMARY KEY,
	domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	selector  TEXT NOT NULL,
	algorithm TEXT NOT NULL,            -- "rsa" or "ed25519"
	private   TEXT NOT NULL,            -- PKCS#8 PEM
	active    INTEGER NOT NULL DEFAULT 0, -- used for signing
	created   INTEGER NOT NULL,
	UNIQUE (domain_id, selector)
);
CREATE TABLE dns_records (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL,  -- fully qualified, lower-case, no trailing dot
	type    TEXT NOT NULL,  -- upper-case RR type
	value   TEXT NOT NULL,  -- RDATA in zone-file syntax
	created INTEGER NOT NULL,
	UNIQUE (name, type, value)
);
CREATE TABLE generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT INTO generation VALUES (1, 1);
CREATE TRIGGER gen_domains_insert AFTER INSERT ON domains BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_domains_update AFTER UPDATE ON domains BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_domains_delete AFTER DELETE ON domains BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_accounts_insert AFTER INSERT ON accounts BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_accounts_update AFTER UPDATE ON accounts BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_accounts_delete AFTER DELETE ON accounts BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_aliases_insert AFTER INSERT ON aliases BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_aliases_update AFTER UPDATE ON aliases BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_aliases_delete AFTER DELETE ON aliases BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_dkim_keys_insert AFTER INSERT ON dkim_keys BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_dkim_keys_update AFTER UPDATE ON dkim_keys BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_dkim_keys_delete AFTER DELETE ON dkim_keys BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_dns_records_insert AFTER INSERT ON dns_records BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_dns_records_update AFTER UPDATE ON dns_records BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER gen_dns_records_delete AFTER DELETE ON dns_records BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
`,
	// 3: the outbound queue gets one row per recipient domain and its
	// delay-warning state.
	`
ALTER TABLE queue ADD COLUMN domain TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX queue_next ON queue(next_attempt);
`,
	// 4: Sieve scripts per account (at most one active) and the senders a
	// vacation reply went to.
	`
CREATE TABLE sieve_scripts (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	content    TEXT NOT NULL,
	active     INTEGER NOT NULL DEFAULT 0,
	created    INTEGER NOT NULL,
	UNIQUE (account_id, name)
);
CREATE TABLE vacation_sent (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	handle     TEXT NOT NULL,
	sender     TEXT NOT NULL,
	until      INTEGER NOT NULL,
	PRIMARY KEY (account_id, handle, sender)
);
`,
	// 5: the migration assistant (internal/migrate, store/migrate.go): the
	// source identity of every imported message, so a re-run copies only
	// what is new, the import runs, and per-domain switch-over dates.
	`
CREATE TABLE import_messages (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	source     TEXT NOT NULL,    -- one old folder, e.g. "imap://host/login/INBOX;UIDVALIDITY=7"
	key        TEXT NOT NULL,    -- the message in it: UID, file name, UIDL
	identity   TEXT NOT NULL,    -- hash of Message-ID, key headers and body
	sha256     TEXT NOT NULL,    -- hash of the bytes as fetched
	size       INTEGER NOT NULL,
	mailbox_id INTEGER NOT NULL, -- where it went (no FK: the user may delete it)
	uid        INTEGER NOT NULL, -- 0 when the box already held it
	created    INTEGER NOT NULL,
	UNIQUE (account_id, source, key)
);
CREATE INDEX import_messages_identity ON import_messages(account_id, mailbox_id, identity);
CREATE TABLE import_runs (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	source     TEXT NOT NULL,    -- the old side, never a password
	started    INTEGER NOT NULL,
	finished   INTEGER NOT NULL DEFAULT 0, -- 0 while running or interrupted
	verified   INTEGER NOT NULL DEFAULT 0,
	copied     INTEGER NOT NULL DEFAULT 0,
	present    INTEGER NOT NULL DEFAULT 0,
	skipped    INTEGER NOT NULL DEFAULT 0,
	failed     INTEGER NOT NULL DEFAULT 0,
	report     TEXT NOT NULL DEFAULT '' -- JSON, per folder
);
CREATE TABLE migration_domains (
	domain  TEXT PRIMARY KEY,
	started INTEGER NOT NULL,
	steps   TEXT NOT NULL DEFAULT '{}' -- JSON: step -> unix time first seen done
);
`,
	// 6: the defences (internal/guard, store/guard.go): login blocks per
	// client network, greylisting triples, and the sender domains that
	// skip greylisting once they passed it with SPF.
	`
CREATE TABLE auth_blocks (
	net    TEXT PRIMARY KEY, -- "192.0.2.7/32" or "2001:db8:1:2::/64"
	level  INTEGER NOT NULL, -- 1 for the first block, +1 for each repeat
	since  INTEGER NOT NULL, -- unix seconds
	until  INTEGER NOT NULL,
	reason TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE greylist (
	net    TEXT NOT NULL,    -- client /24 or /64
	sender TEXT NOT NULL,    -- lower-case envelope sender, '' for <>
	rcpt   TEXT NOT NULL,    -- lower-case recipient
	first  INTEGER NOT NULL, -- first attempt, unix seconds
	last   INTEGER NOT NULL, -- last accepted attempt (first until passed)
	passed INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (net, sender, rcpt)
) WITHOUT ROWID;
CREATE TABLE greylist_domains (
	domain TEXT PRIMARY KEY,
	last   INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 7: per-account storage quota in bytes (0: unlimited), store/quota.go.
	`
ALTER TABLE accounts ADD COLUMN quota INTEGER NOT NULL DEFAULT 0;
`,
	// 8: each body's header section kept beside it, so FETCH ENVELOPE and
	// header SEARCH read a small row instead of the body's overflow pages.
	`
CREATE TABLE headers (
	body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,
	data    BLOB NOT NULL
);
INSERT INTO headers(body_id, data)
	SELECT id, CASE WHEN instr(data, X'0D0A0D0A') > 0 THEN substr(data, 1, instr(data, X'0D0A0D0A') + 3) ELSE data END FROM bodies;
`,
	// 9: a disabled account keeps its mailboxes but cannot log in or
	// receive mail (store/disable.go).
	`
ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
`,
	// 10: logins (store/auth.go): the TOTP second factor of the web login
	// (secret, last accepted time step against replay), named app
	// passwords for devices, and each account's first and last login.
	`
ALTER TABLE accounts ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0;
CREATE TABLE app_passwords (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	pwhash     TEXT NOT NULL,
	created    INTEGER NOT NULL,
	last_used  INTEGER NOT NULL DEFAULT 0,
	last_proto TEXT NOT NULL DEFAULT '',
	last_addr  TEXT NOT NULL DEFAULT '',
	UNIQUE (account_id, name)
);
CREATE TABLE logins (
	account_id  INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	first_at    INTEGER NOT NULL,
	first_proto TEXT NOT NULL,
	first_addr  TEXT NOT NULL,
	last_at     INTEGER NOT NULL,
	last_proto  TEXT NOT NULL,
	last_addr   TEXT NOT NULL
);
`,
	// 11: large bodies kept in files under DIR/bodies (store/bodyfile.go):
	// the row names the file and keeps an empty data BLOB; deleting such a
	// row records the file, which the writer removes after the commit.
	`
ALTER TABLE bodies ADD COLUMN file TEXT;
CREATE TABLE dead_files (name TEXT PRIMARY KEY);
CREATE TRIGGER bodies_file_del AFTER DELETE ON bodies WHEN OLD.file IS NOT NULL BEGIN
	INSERT OR IGNORE INTO dead_files(name) VALUES(OLD.file);
END;
`,
	// 12: the header fields that SEARCH FROM/TO/CC/BCC/SUBJECT compare, in
	// the form they are compared (store/headersearch.go), so a search
	// parses only the headers of its candidates. Filled from the headers
	// table by backfillHeaderSearch in the same transaction.
	`
CREATE TABLE header_search (
	body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,
	subject BLOB NOT NULL,
	hfrom   BLOB NOT NULL,
	hto     BLOB NOT NULL,
	cc      BLOB NOT NULL,
	bcc     BLOB NOT NULL
);
`,
	// 13: the change feed between processes (store/changelog.go): one row
	// per committed batch that changed mail, holding its events; the
	// writer trims rows older than changeLogKeep.
	`
CREATE TABLE change_log (
	id     INTEGER PRIMARY KEY,
	writer INTEGER NOT NULL,
	at     INTEGER NOT NULL,
	events BLOB NOT NULL
);
`,
	// 14: web sessions (store/websession.go), so a restart does not log
	// anyone out: the SHA-256 of the cookie value, never the value.
	`
CREATE TABLE web_sessions (
	token_hash BLOB PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	stamp      TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	created    INTEGER NOT NULL,
	seen       INTEGER NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions(account_id);
`,
	// 15: queue ids are never reused (AUTOINCREMENT; a plain rowid took
	// the deleted row's id again, so every delivery logged queue_id=1):
	// the table is rebuilt with its rows, triggers and index. And an
	// import record names the box's own copy it matched (already present
	// there, or moved there by the import: store/migrate.go), so no later
	// run moves that copy again.
	`
CREATE TABLE queue_new (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	sender       TEXT NOT NULL,
	recipients   TEXT NOT NULL, -- comma-separated
	body_id      INTEGER NOT NULL REFERENCES bodies(id),
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	domain       TEXT NOT NULL DEFAULT '',
	warned       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO queue_new(id, sender, recipients, body_id, created, next_attempt, attempts, last_error, domain, warned)
	SELECT id, sender, recipients, body_id, created, next_attempt, attempts, last_error, domain, warned FROM queue;
DROP TRIGGER queue_ref_ins;
DROP TRIGGER queue_ref_del;
DROP TABLE queue;
ALTER TABLE queue_new RENAME TO queue;
CREATE TRIGGER queue_ref_ins AFTER INSERT ON queue BEGIN
	UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
END;
CREATE TRIGGER queue_ref_del AFTER DELETE ON queue BEGIN
	UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
	DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
END;
CREATE INDEX queue_next ON queue(next_attempt);
ALTER TABLE import_messages ADD COLUMN box_mailbox INTEGER NOT NULL DEFAULT 0; -- the box's copy it matched, 0: none or unknown
ALTER TABLE import_messages ADD COLUMN box_uid INTEGER NOT NULL DEFAULT 0;
`,
	// 16: the spam filter (store/spam.go): token counts per account and
	// for the household (account 0), each model's trained messages, the
	// messages each account trained (by content key), and the training
	// the moves into and out of Junk asked for, holding their bodies.
	`
CREATE TABLE spam_tokens (
	account_id INTEGER NOT NULL, -- 0: the household model
	token      INTEGER NOT NULL, -- 64-bit hash of a token or reputation key
	spam       INTEGER NOT NULL DEFAULT 0,
	ham        INTEGER NOT NULL DEFAULT 0,
	seen       INTEGER NOT NULL, -- unix day of the last change
	PRIMARY KEY (account_id, token)
) WITHOUT ROWID;
CREATE TABLE spam_models (
	account_id INTEGER PRIMARY KEY, -- 0: the household model
	spam       INTEGER NOT NULL DEFAULT 0,
	ham        INTEGER NOT NULL DEFAULT 0,
	gen        INTEGER NOT NULL DEFAULT 0 -- +1 per change, for caches
);
CREATE TABLE spam_trained (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	msg_key    BLOB NOT NULL, -- hash of the message's bytes
	class      INTEGER NOT NULL, -- 1 spam, 0 ham, 2 sent
	at         INTEGER NOT NULL,
	PRIMARY KEY (account_id, msg_key)
) WITHOUT ROWID;
CREATE TABLE spam_train_queue (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	body_id    INTEGER NOT NULL REFERENCES bodies(id),
	class      INTEGER NOT NULL, -- 1 spam, 0 ham, 2 sent
	created    INTEGER NOT NULL
);
CREATE TRIGGER spam_train_ref_ins AFTER INSERT ON spam_train_queue BEGIN
	UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
END;
CREATE TRIGGER spam_train_ref_del AFTER DELETE ON spam_train_queue BEGIN
	UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
	DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
END;
`,
	// 17: CONDSTORE/QRESYNC (RFC 7162, store/condstore.go): a tombstone
	// per UID removed from a mailbox (expunge, move away, POP3 delete)
	// with the MODSEQ of its removal, for VANISHED; each mailbox's
	// vanished_floor, the MODSEQ up to which tombstones were compacted
	// away (today's MODSEQ for existing mailboxes: their earlier removals
	// were not recorded); and an index for CHANGEDSINCE, partial so that
	// only a query comparing modseq can use it (SQLite otherwise took it
	// for the "WHERE mailbox_id = ?" scans that rely on UID order).
	`
CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL, -- the mailbox's MODSEQ of the removal
	at         INTEGER NOT NULL, -- unix seconds, for compaction
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET vanished_floor = modseq;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq) WHERE modseq IS NOT NULL;
`,
	// 18: the webmail's "always show images from this sender"
	// (store/webmailprefs.go): one row per account and sender address
	// (lower case). IF NOT EXISTS: tests that rewind user_version keep it.
	`
CREATE TABLE IF NOT EXISTS webmail_image_senders (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	sender     TEXT NOT NULL,
	created    INTEGER NOT NULL,
	PRIMARY KEY (account_id, sender)
) WITHOUT ROWID;
`,
	// 19: the webmail's identities (store/identity.go), a display name
	// and a signature per account and From address; and submissions held
	// before they leave (store/held.go), so a webmail "undo send" can
	// cancel them and a crash during the hold still sends them. "IF NOT
	// EXISTS": tests that rerun earlier migrations run this one again.
	`
CREATE TABLE IF NOT EXISTS identities (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	address    TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	signature  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (account_id, address)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS held_submissions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	account    TEXT NOT NULL,    -- the account's address, as delivery.Submission has it
	sender     TEXT NOT NULL,    -- envelope sender
	recipients TEXT NOT NULL,    -- comma-separated envelope recipients
	client     TEXT NOT NULL DEFAULT '',
	via        TEXT NOT NULL DEFAULT '',
	data       BLOB NOT NULL,
	release_at INTEGER NOT NULL, -- unix milliseconds
	claimed    INTEGER NOT NULL DEFAULT 0 -- 1 once the release began: no cancel
);
CREATE INDEX IF NOT EXISTS held_release ON held_submissions(release_at);
`,
	// 20: contacts and calendars (CardDAV/CalDAV, store/dav.go): an
	// account's collections (kind 'card' or 'cal', the name in its URL),
	// each with a modseq raised by every change of its objects (the ctag
	// and sync token); the objects (a vCard or an iCalendar object each,
	// by their name in the URL and by UID, unique per collection) with
	// their ETag and the modseq of their last change; and a tombstone
	// per removed object, for sync-collection (RFC 6578).
	`
CREATE TABLE dav_collections (
	id           INTEGER PRIMARY KEY,
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	kind         TEXT NOT NULL CHECK (kind IN ('card', 'cal')),
	name         TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	description  TEXT NOT NULL DEFAULT '',
	modseq       INTEGER NOT NULL DEFAULT 1,
	created      INTEGER NOT NULL,
	UNIQUE (account_id, kind, name)
);
CREATE TABLE dav_objects (
	id            INTEGER PRIMARY KEY,
	collection_id INTEGER NOT NULL REFERENCES dav_collections(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	uid           TEXT NOT NULL,
	etag          TEXT NOT NULL,
	data          BLOB NOT NULL,
	modseq        INTEGER NOT NULL,
	modified      INTEGER NOT NULL,
	UNIQUE (collection_id, name),
	UNIQUE (collection_id, uid)
);
CREATE INDEX dav_objects_modseq ON dav_objects(collection_id, modseq);
CREATE TABLE dav_tombstones (
	collection_id INTEGER NOT NULL REFERENCES dav_collections(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	modseq        INTEGER NOT NULL,
	PRIMARY KEY (collection_id, name)
) WITHOUT ROWID;
`,
	// 21: the webmail's search (issue 19): the body text index
	// (store/textsearch.go), filled by backfillBodyText in the same
	// transaction.
	bodyTextSchema,
	// 22: subscriptions (store/subscription.go) are names of their own,
	// not a column of mailbox rows: a subscription outlives its mailbox's
	// DELETE and RENAME, as RFC 9051 6.3.7 wants, and LIST (SUBSCRIBED)
	// shows such a name as \NonExistent (RFC 5258). The subscribed
	// mailboxes of today are copied, then the column goes.
	`
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
INSERT INTO subscriptions(account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed = 1;
ALTER TABLE mailboxes DROP COLUMN subscribed;
`,
	// 23: the spam filter's linear model (store/spam.go): per model
	// (an account, or 0 for the household) the weights and confidences
	// that training changed, by weight index; an index without a row is 0.
	`
CREATE TABLE IF NOT EXISTS spam_weights ( -- IF NOT EXISTS: tests that roll the version back keep it
	account_id INTEGER NOT NULL, -- 0: the household model
	idx        INTEGER NOT NULL, -- weight index, below spam.LinearSize
	w          REAL NOT NULL DEFAULT 0,
	c          REAL NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, idx)
) WITHOUT ROWID;
`,
	// 24: shared contacts and calendars (store/davshare.go): an
	// account's collection granted to another account, read-only or
	// read/write.
	`
CREATE TABLE IF NOT EXISTS dav_shares ( -- IF NOT EXISTS: tests that roll the version back keep it
	collection_id INTEGER NOT NULL REFERENCES dav_collections(id) ON DELETE CASCADE,
	account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	write         INTEGER NOT NULL DEFAULT 0, -- 1: may change and remove objects
	PRIMARY KEY (collection_id, account_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dav_shares_account ON dav_shares(account_id);
`,
	// 25: outbound transport security (store/tlspolicy.go): the
	// MTA-STS policies fetched for recipient domains (RFC 8461 5.1
	// cache), the queue entries whose sender asked for REQUIRETLS (RFC
	// 8689), and the per-day outcome counts of outbound TLS sessions that
	// TLS-RPT reports (RFC 8460) are built from.
	`
CREATE TABLE IF NOT EXISTS mtasts_policies (
	domain    TEXT PRIMARY KEY,
	policy_id TEXT NOT NULL, -- the id= of _mta-sts.DOMAIN when fetched
	policy    TEXT NOT NULL, -- the policy file as served
	fetched   INTEGER NOT NULL,
	expires   INTEGER NOT NULL -- fetched + max_age
);
CREATE TABLE IF NOT EXISTS queue_requiretls (
	queue_id INTEGER PRIMARY KEY -- a queue row whose message must travel over validated TLS only
);
CREATE TABLE IF NOT EXISTS tls_results (
	day         TEXT NOT NULL, -- UTC date, YYYY-MM-DD
	domain      TEXT NOT NULL, -- recipient domain (the policy domain)
	policy_type TEXT NOT NULL, -- "sts", "tlsa" or "no-policy-found"
	policy      TEXT NOT NULL DEFAULT '', -- the policy as TLS-RPT's policy-string, lines joined by LF
	mx_host     TEXT NOT NULL,
	result      TEXT NOT NULL, -- "success" or an RFC 8460 4.3 result type
	detail      TEXT NOT NULL DEFAULT '', -- the last failure's words
	count       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (day, domain, policy_type, mx_host, result)
) WITHOUT ROWID;
`,
	// 26: aggregate reports other mail systems sent about the box's
	// domains (DMARC and TLS; store/reports.go), kept for the admin.
	`
CREATE TABLE IF NOT EXISTS received_reports ( -- IF NOT EXISTS: tests that roll the version back keep it
	id        INTEGER PRIMARY KEY,
	kind      TEXT NOT NULL, -- reports.Kind: dmarc, tlsrpt
	org       TEXT NOT NULL,
	report_id TEXT NOT NULL,
	domain    TEXT NOT NULL,
	begin_at  INTEGER NOT NULL, -- unix seconds
	end_at    INTEGER NOT NULL,
	received  INTEGER NOT NULL,
	data      BLOB NOT NULL, -- the parsed report, JSON
	UNIQUE (kind, org, report_id)
);
CREATE INDEX IF NOT EXISTS received_reports_end ON received_reports(kind, end_at);
`,
	// 27: the health history and the status mail's memory (store/history.go).
	historySchema,
	// 28: the DMARC evaluations of inbound mail, counted per day for the
	// aggregate reports the box sends (store/dmarcrecords.go), and the
	// policy each reported domain published that day.
	`
CREATE TABLE IF NOT EXISTS dmarc_policies ( -- IF NOT EXISTS: tests that roll the version back keep it
	day    TEXT NOT NULL, -- UTC date, YYYY-MM-DD
	domain TEXT NOT NULL, -- the policy domain (where the record was found)
	p      TEXT NOT NULL,
	sp     TEXT NOT NULL,
	adkim  TEXT NOT NULL,
	aspf   TEXT NOT NULL,
	pct    INTEGER NOT NULL,
	rua    TEXT NOT NULL, -- the rua= URIs, comma-separated
	PRIMARY KEY (day, domain)
);
CREATE TABLE IF NOT EXISTS dmarc_records (
	day         TEXT NOT NULL,
	domain      TEXT NOT NULL, -- the policy domain
	source_ip   TEXT NOT NULL,
	header_from TEXT NOT NULL,
	spf_domain  TEXT NOT NULL, -- the MAIL FROM domain, or the HELO name
	spf_scope   TEXT NOT NULL, -- mfrom or helo
	spf_result  TEXT NOT NULL,
	dkim        TEXT NOT NULL, -- "domain selector result" per signature, sorted, joined by ";"
	disposition TEXT NOT NULL, -- none, quarantine, reject
	dkim_eval   TEXT NOT NULL, -- pass or fail (aligned)
	spf_eval    TEXT NOT NULL,
	reason      TEXT NOT NULL, -- a policy override, e.g. sampled_out; '' for none
	count       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (day, domain, source_ip, header_from, spf_domain, spf_scope, spf_result, dkim, disposition, dkim_eval, spf_eval, reason)
);
`,
	// 29: the queue entries marked TLS-Required: No
	// (store/tlsoptional.go).
	tlsOptionalSchema,
	// 30: queue claims and singleton leases for several nodes
	// (store/lease.go; the queue columns in migrationSteps).
	leaseSchema,
	// 31: shared message bodies: chunks in the database, pins of blobs
	// being written (store/bodyschema.go).
	bodyStoreSchema,
	// 32: PostgreSQL's trigram index of the body text; nothing on SQLite
	// (store/textsearch.go).
	textIndexSchema,
	// 33: what every node shares: DNSSEC keys, the certificate store
	// (store/zonekeys.go).
	sharedStateSchema,
	// 34: unused (a no-op on both engines).
	`SELECT 1`,
	// 35: PostgreSQL's indexes of the references to a body
	// (message.go, bodyRefIndexSchema); nothing on SQLite.
	`SELECT 1`,
}

// migrationSteps are Go steps run after the SQL of a migration (by
// version), in its transaction.
var migrationSteps = map[int]func(ctx context.Context, tx *sql.Tx) error{
	12: backfillHeaderSearch,
	21: backfillBodyText, // after bodyTextSchema (TestBodyTextBackfillFollowsItsSchema)
	30: addQueueLeaseColumns,
}

// SchemaVersion returns the version a fully migrated database has.
func SchemaVersion() int { return len(migrations) }

// migrate applies pending migrations, one transaction each. The version
// is read inside the (immediate, hence exclusive) transaction, so two
// processes opening a new database at once do not both apply a step.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			tx.Rollback()
			return err
		}
		if v > len(migrations) {
			tx.Rollback()
			return fmt.Errorf("this database was written by a newer boxmail (schema %d); this binary knows up to %d: install the newer binary", v, len(migrations))
		}
		if v == len(migrations) {
			return tx.Rollback()
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if step := migrationSteps[v+1]; step != nil {
			if err := step(ctx, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

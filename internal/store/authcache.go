package store

// The login cache: a phone or desktop client that logs in over IMAP, POP3
// or SMTP every few minutes should not pay a full bcrypt each time, and the
// hash on disk must stay as strong as it is. So the store remembers, for a
// short while and in memory only, that a stored hash was verified against
// a presented secret:
//
//   - An entry is the HMAC-SHA256, under a random key made once per
//     process (never written anywhere), of the account's ID, its stored
//     password hash as read on this login, and the presented password. The
//     password itself is never kept, nor anything computable from it
//     without the key.
//   - Only a verification that succeeded is remembered: a wrong password
//     always costs one bcrypt (as a login for an unknown account does).
//   - Every login still reads the account's row (an indexed read, a few
//     microseconds: the disabled flag, the hash, the TOTP secret) and the
//     key is made from the hash read then. A password set anywhere (this
//     process, `boxmail user passwd` beside `boxmail serve`, a restored
//     backup) changes the stored hash (bcrypt salts anew), so the old
//     entry can no longer be found: the old password stops at once, in
//     every process, with no message between processes. A disabled or
//     removed account has no row to read, and two-step login on bypasses
//     the cache (AuthenticateDevice). App passwords do not use the cache:
//     they are a SHA-256 looked up in the database on every login, so a
//     revoked one fails at once.
//   - Entries live authCacheTTL (not extended by use) and at most
//     authCacheMax are kept, the least recently used going first.
//   - The writers of the rows a login depends on (password, app
//     passwords, TOTP, disabling, account and domain removal) also empty
//     the cache (forget), so nothing of an old secret lingers in memory
//     after a change made in this process.
//
// What it is not: a cache of failures, of accounts or of sessions; the
// login guard (internal/guard) still counts every refused login.

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

const (
	// authCacheTTL is how long a verified secret is remembered: longer
	// than the interval at which mail clients poll (10-15 minutes), short
	// enough that an entry does not outlive a working session by much.
	authCacheTTL = 15 * time.Minute
	// authCacheMax bounds the entries (about 100 bytes each).
	authCacheMax = 4096
)

type authKey [sha256.Size]byte

type authEntry struct {
	key   authKey
	until time.Time
}

// authCache remembers successful password verifications (see above). The
// zero value is ready to use; its key is made on first use.
type authCache struct {
	once sync.Once
	key  []byte

	mu    sync.Mutex
	lru   *list.List // of *authEntry, most recently used first
	byKey map[authKey]*list.Element

	now func() time.Time // tests move the clock
	ttl time.Duration
	max int
}

func (c *authCache) init() {
	c.once.Do(func() {
		c.key = make([]byte, 32)
		if _, err := rand.Read(c.key); err != nil { // crypto/rand: never, since Go 1.24
			panic("login cache key: " + err.Error())
		}
		c.lru = list.New()
		c.byKey = map[authKey]*list.Element{}
		if c.now == nil {
			c.now = time.Now
		}
		if c.ttl == 0 {
			c.ttl = authCacheTTL
		}
		if c.max == 0 {
			c.max = authCacheMax
		}
	})
}

// keyOf is the entry for an account, its stored hash and a password.
func (c *authCache) keyOf(account int64, hash, password string) authKey {
	m := hmac.New(sha256.New, c.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(account))
	m.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(len(hash)))
	m.Write(b[:])
	m.Write([]byte(hash))
	m.Write([]byte(password))
	var k authKey
	m.Sum(k[:0])
	return k
}

// hit reports whether this hash was verified against this password less
// than the TTL ago.
func (c *authCache) hit(account int64, hash, password string) bool {
	c.init()
	k := c.keyOf(account, hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return false
	}
	if !c.now().Before(el.Value.(*authEntry).until) {
		c.lru.Remove(el)
		delete(c.byKey, k)
		return false
	}
	c.lru.MoveToFront(el)
	return true
}

// add remembers a successful verification.
func (c *authCache) add(account int64, hash, password string) {
	c.init()
	k := c.keyOf(account, hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	until := c.now().Add(c.ttl)
	if el, ok := c.byKey[k]; ok {
		el.Value.(*authEntry).until = until
		c.lru.MoveToFront(el)
		return
	}
	c.byKey[k] = c.lru.PushFront(&authEntry{key: k, until: until})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byKey, old.Value.(*authEntry).key)
	}
}

// forget empties the cache. The writers of login rows call it: such
// changes are rare, and their cost is one bcrypt at each account's next
// login.
func (c *authCache) forget() {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.byKey)
}

// len is the number of entries (tests).
func (c *authCache) len() int {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// verifyPassword reports whether password matches the account's stored
// hash, from the cache when this very hash and password were verified
// recently, else with bcrypt (passwordMatches), remembering a match. A
// mismatch always costs one bcrypt and is never remembered.
func (s *Store) verifyPassword(account int64, hash, password string) bool {
	if s.auth.hit(account, hash, password) {
		return true
	}
	if !s.passwordMatches(hash, password) {
		return false
	}
	s.auth.add(account, hash, password)
	return true
}

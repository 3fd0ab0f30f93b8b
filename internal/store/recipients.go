package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// PastRecipients returns up to limit addresses an account wrote to, the
// most recent first: the To, Cc and Bcc addresses of the latest 500
// messages in its \Sent mailbox (whatever program sent them), from the
// header_search table, so no message is parsed; then the addresses of
// the account's contacts (contactAddresses). Addresses are lower case
// (the table keeps folded values). The webmail's recipient autocomplete
// uses it.
func (s *Store) PastRecipients(ctx context.Context, accountID int64, limit int) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT h.hto, h.cc, h.bcc FROM messages m
		JOIN mailboxes b ON b.id = m.mailbox_id JOIN header_search h ON h.body_id = m.body_id
		WHERE b.account_id = ? AND b.special_use = '\Sent' ORDER BY m.id DESC LIMIT 500`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var to, cc, bcc []byte
		if err := rows.Scan(&to, &cc, &bcc); err != nil {
			return nil, err
		}
		for _, v := range [][]byte{to, cc, bcc} {
			for line := range strings.SplitSeq(string(v), "\n") {
				list, err := mail.ParseAddressList(line)
				if err != nil {
					continue
				}
				for _, a := range list {
					if addr := strings.ToLower(a.Address); !seen[addr] && len(out) < limit {
						seen[addr] = true
						out = append(out, addr)
					}
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return s.contactAddresses(ctx, accountID, limit, seen, out)
}

// maxContactScan bounds the contacts read for suggestions.
const maxContactScan = 5000

// contactAddresses appends to out the EMAIL addresses of the account's
// contacts (CardDAV address books, store/dav.go) that are not in seen,
// up to limit in all. A vCard is read only for its EMAIL lines (folded
// lines joined, parameters dropped); a value that is not an address is
// skipped.
func (s *Store) contactAddresses(ctx context.Context, accountID int64, limit int, seen map[string]bool, out []string) ([]string, error) {
	if len(out) >= limit {
		return out, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT o.data FROM dav_objects o JOIN dav_collections c ON c.id = o.collection_id
		WHERE c.account_id = ? AND c.kind = 'card' ORDER BY o.modified DESC LIMIT ?`, accountID, maxContactScan)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() && len(out) < limit {
		var card []byte
		if err := rows.Scan(&card); err != nil {
			return nil, err
		}
		for _, v := range vcardEmails(card) {
			a, err := mail.ParseAddress(v)
			if err != nil {
				continue
			}
			if addr := strings.ToLower(a.Address); !seen[addr] && len(out) < limit {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	return out, rows.Err()
}

// vcardEmails returns the values of a vCard's EMAIL properties (RFC 6350
// 3.2 unfolding; group prefixes and parameters dropped).
func vcardEmails(card []byte) []string {
	unfolded := strings.NewReplacer("\r\n ", "", "\r\n\t", "", "\n ", "", "\n\t", "").Replace(string(card))
	var out []string
	for line := range strings.SplitSeq(unfolded, "\n") {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, ";")
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		if strings.EqualFold(name, "EMAIL") {
			out = append(out, strings.TrimSpace(value))
		}
	}
	return out
}

// RecipientAccount is what delivery needs of an account a message goes
// to: the account, whether it is disabled, its quota with its usage (Used
// summed only when it has a quota, as QuotaFits does) and its active
// Sieve script (nil: none).
type RecipientAccount struct {
	Account
	Disabled bool
	Usage    Usage
	Script   *SieveScript
}

// RecipientLookup is what an address leads to at the first step of
// routing, as read in one statement: whether its domain is hosted, the
// alias and the account of the exact address and of its base (without
// the +tag: the same as the address when it has none), and the domain's
// catch-all alias. Each is nil when there is none. Which one wins is
// delivery's decision (delivery's owner).
type RecipientLookup struct {
	Hosted               bool
	Alias, BaseAlias     *Alias
	Account, BaseAccount *RecipientAccount
	CatchAll             *Alias
}

// recipientAccountColumns are the columns of the account p (joined with
// its active script as ps) that scanRecipientAccount reads.
func recipientAccountColumns(p string) string {
	return strings.NewReplacer("p.", p+".", "ps.", p+"s.").Replace(`p.id, p.email, p.admin, p.created, p.disabled, p.quota,
		CASE WHEN p.quota > 0 THEN (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.account_id = p.id) ELSE 0 END,
		ps.name, ps.content`)
}

// recipientAccountJoin joins the account p on cond with its active script.
func recipientAccountJoin(p, cond string) string {
	return "LEFT JOIN accounts " + p + " ON " + cond + " LEFT JOIN sieve_scripts " + p + "s ON " + p + "s.account_id = " + p + ".id AND " + p + "s.active = 1\n"
}

// recipientAccountScan holds the columns of recipientAccountColumns.
type recipientAccountScan struct {
	id, admin, created, disabled, quota, used sql.NullInt64
	email, script, content                    sql.NullString
}

func (r *recipientAccountScan) dest() []any {
	return []any{&r.id, &r.email, &r.admin, &r.created, &r.disabled, &r.quota, &r.used, &r.script, &r.content}
}

// account returns the scanned account, nil when the join found none.
func (r *recipientAccountScan) account() *RecipientAccount {
	if !r.id.Valid {
		return nil
	}
	a := &RecipientAccount{
		Account:  Account{ID: r.id.Int64, Email: r.email.String, Admin: r.admin.Int64 != 0, Created: time.Unix(r.created.Int64, 0)},
		Disabled: r.disabled.Int64 != 0,
		Usage:    Usage{Email: r.email.String, Quota: r.quota.Int64, Used: r.used.Int64},
	}
	if r.script.Valid {
		a.Script = &SieveScript{Name: r.script.String, Content: r.content.String, Active: true}
	}
	return a
}

// aliasScan holds an alias's columns from a left join.
type aliasScan struct{ address, targets, permit sql.NullString }

func (r *aliasScan) dest() []any { return []any{&r.address, &r.targets, &r.permit} }

func (r *aliasScan) alias() *Alias {
	if !r.address.Valid {
		return nil
	}
	return &Alias{Address: r.address.String, Targets: splitList(r.targets.String), Permit: splitList(r.permit.String)}
}

var lookupRecipientQuery = `SELECT d.id IS NOT NULL, l1.address, l1.targets, l1.permit, ` + recipientAccountColumns("a1") + `,
	l2.address, l2.targets, l2.permit, ` + recipientAccountColumns("a2") + `,
	lc.address, lc.targets, lc.permit
	FROM (SELECT 1 AS one) x
	LEFT JOIN domains d ON d.name = ?
	LEFT JOIN aliases l1 ON l1.address = ?
	` + recipientAccountJoin("a1", "a1.email = ?") + `
	LEFT JOIN aliases l2 ON l2.address = ?
	` + recipientAccountJoin("a2", "a2.email = ?") + `
	LEFT JOIN aliases lc ON lc.address = ?`

// LookupRecipient reads in one statement what address (local@domain,
// lower case) and base (its +tag base, or address itself) lead to: see
// RecipientLookup. The SMTP path asks it once per address it routes.
func (s *Store) LookupRecipient(ctx context.Context, address, base string) (RecipientLookup, error) {
	address, base = strings.ToLower(address), strings.ToLower(base)
	domain := address[strings.LastIndexByte(address, '@')+1:]
	var out RecipientLookup
	var l1, l2, lc aliasScan
	var a1, a2 recipientAccountScan
	dest := []any{&out.Hosted}
	dest = append(append(append(dest, l1.dest()...), a1.dest()...), l2.dest()...)
	dest = append(append(dest, a2.dest()...), lc.dest()...)
	err := s.recipientRead.queryRow(ctx, s, lookupRecipientQuery, domain, address, address, base, base, "@"+domain).Scan(dest...)
	if err != nil {
		return RecipientLookup{}, err
	}
	out.Alias, out.Account, out.BaseAlias, out.BaseAccount, out.CatchAll = l1.alias(), a1.account(), l2.alias(), a2.account(), lc.alias()
	return out, nil
}

var recipientAccountQuery = `SELECT ` + recipientAccountColumns("a1") + ` FROM (SELECT 1 AS one) x
	` + recipientAccountJoin("a1", "a1.id = ?")

// RecipientAccountByID is LookupRecipient's account part for an account
// known by id (a role address's admin): ErrNotFound when there is none.
func (s *Store) RecipientAccountByID(ctx context.Context, id int64) (RecipientAccount, error) {
	var a recipientAccountScan
	if err := s.rdb.QueryRowContext(ctx, recipientAccountQuery, id).Scan(a.dest()...); err != nil {
		return RecipientAccount{}, err
	}
	acc := a.account()
	if acc == nil {
		return RecipientAccount{}, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	return *acc, nil
}

// preparedRead is a read statement prepared once for the read pool on
// SQLite, where parsing LookupRecipient's statement costs more than
// running it (BenchmarkRecipientReads). PostgreSQL's driver keeps its
// statements prepared per connection by itself.
type preparedRead struct {
	mu   sync.Mutex
	stmt *sql.Stmt // nil: not prepared yet, or preparing failed
}

// queryRow runs q, prepared on SQLite.
func (p *preparedRead) queryRow(ctx context.Context, s *Store, q string, args ...any) *sql.Row {
	if s.pg {
		return s.rdb.QueryRowContext(ctx, q, args...)
	}
	p.mu.Lock()
	if p.stmt == nil {
		if st, err := s.rdb.PrepareContext(ctx, q); err == nil {
			p.stmt = st
		}
	}
	st := p.stmt
	p.mu.Unlock()
	if st == nil {
		return s.rdb.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// close closes the prepared statement.
func (p *preparedRead) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		return nil
	}
	return p.stmt.Close()
}

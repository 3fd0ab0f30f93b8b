// Command countmsgs prints how many messages a boxmail data dir holds. It
// is the benchmark's COUNT_CMD while no IMAP server answers: it opens the
// database read-only (WAL readers never block the running server's
// writer) and counts the rows of the messages table, optionally only
// those in the INBOX of the given accounts.
//
//	countmsgs DATADIR [EMAIL...]
package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: countmsgs DATADIR [EMAIL...]")
		os.Exit(2)
	}
	path := filepath.Join(os.Args[1], "boxmail.db")
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer func() { _ = db.Close() }() // opened read-only: its close reports nothing the query did not
	q := "SELECT count(*) FROM messages"
	var args []any
	if emails := os.Args[2:]; len(emails) > 0 {
		q = "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id" +
			" WHERE b.name = 'INBOX' AND a.email IN (?" + strings.Repeat(",?", len(emails)-1) + ")"
		for _, e := range emails {
			args = append(args, strings.ToLower(e))
		}
	}
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(n)
}

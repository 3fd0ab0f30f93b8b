// Command imapload is the IMAP load driver of bench/imap-mixed.sh and
// bench/imap-100k.sh: the same client code against any IMAP server, plain
// IMAP4rev1 over TCP on loopback only, every loop bounded in count and
// time. It prints one line of key=value pairs per run.
//
//	imapload setup -addr A -users 1-10 -pass P -n 100
//	    APPEND until each user's INBOX holds n messages.
//	imapload mixed -addr A[,A2...] -users 1-10 -pass P -clients 10 -sessions 1000 -duration 60s
//	    (several addresses: nodes of one box, client i on address i mod n)
//	    clients sessions at once, user (client mod users): LOGIN, SELECT,
//	    FETCH of the 20 newest (UID FLAGS RFC822.SIZE and three header
//	    fields), STORE of a flag on one message, APPEND, UID STORE \Deleted
//	    of the appended message, EXPUNGE, LOGOUT: 8 operations (commands).
//	imapload big -addr A -user U -pass P -rounds 3
//	    on a big INBOX: SELECT, FETCH 1:* (FLAGS), UID SEARCH UNSEEN,
//	    UID SEARCH FROM, each round on a new connection.
//	imapload seen -addr A -user U -pass P -n 100
//	    STORE +FLAGS.SILENT (\Seen) on all but the newest n messages.
//	imapload push -addr A -smtp S -user U -pass P -rcpt R -n 10
//	    IDLE on INBOX; n messages over SMTP; the time from each 250 after
//	    DATA to the EXISTS that IDLE pushes.
//	imapload hold -addr A -users 2-10 -pass P -n 1000 -srcs 100
//	    n connections in IDLE (spread over users and loopback source
//	    addresses 127.0.1.x); prints held= when they are up, then keeps them
//	    for -hold and closes them.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// common flags
type opts struct {
	addr, pass, user, users, mailbox, smtp, rcpt string
	n, clients, sessions, rounds, srcs, par      int
	duration, hold, within                       time.Duration
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: imapload setup|mixed|big|seen|push|hold [flags]")
		os.Exit(2)
	}
	var o opts
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:143", "IMAP server (loopback)")
	fs.StringVar(&o.smtp, "smtp", "", "SMTP server for push (loopback)")
	fs.StringVar(&o.pass, "pass", "", "password of every user")
	fs.StringVar(&o.user, "user", "user1@bench.test", "the user (big, push)")
	fs.StringVar(&o.users, "users", "1-10", "user numbers, FROM-TO: userN@bench.test")
	fs.StringVar(&o.rcpt, "rcpt", "user1@bench.test", "recipient (push)")
	fs.StringVar(&o.mailbox, "mailbox", "INBOX", "mailbox")
	fs.IntVar(&o.n, "n", 100, "messages (setup, push) or connections (hold)")
	fs.IntVar(&o.clients, "clients", 10, "concurrent clients (mixed)")
	fs.IntVar(&o.sessions, "sessions", 1000, "most sessions in all (mixed)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds (big)")
	fs.IntVar(&o.srcs, "srcs", 100, "loopback source addresses 127.0.1.1.. (hold)")
	fs.IntVar(&o.par, "par", 20, "connections opened at once (hold)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "most time (mixed)")
	fs.DurationVar(&o.hold, "hold", 5*time.Second, "how long the connections are held (hold)")
	fs.DurationVar(&o.within, "within", 120*time.Second, "most time to open them (hold)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	for _, a := range append(strings.Split(o.addr, ","), o.smtp) {
		if a != "" && !strings.HasPrefix(a, "127.") && !strings.HasPrefix(a, "localhost:") {
			fmt.Fprintln(os.Stderr, "imapload: loopback servers only:", a)
			os.Exit(2)
		}
	}
	run := map[string]func(opts) error{"setup": setup, "mixed": mixed, "big": big, "push": push, "hold": hold, "seen": seen}[os.Args[1]]
	if run == nil {
		fmt.Fprintln(os.Stderr, "imapload: unknown mode", os.Args[1])
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "imapload:", err)
		os.Exit(1)
	}
}

// userList expands "FROM-TO" into userN@bench.test addresses.
func userList(spec string) ([]string, error) {
	from, to, ok := strings.Cut(spec, "-")
	if !ok {
		to = from
	}
	a, err1 := strconv.Atoi(from)
	b, err2 := strconv.Atoi(to)
	if err1 != nil || err2 != nil || a < 1 || b < a || b-a > 1000 {
		return nil, fmt.Errorf("-users %q: want FROM-TO", spec)
	}
	var out []string
	for i := a; i <= b; i++ {
		out = append(out, fmt.Sprintf("user%d@bench.test", i))
	}
	return out, nil
}

// kv prints one result line.
func kv(pairs ...string) {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pairs[i] + "=" + pairs[i+1])
	}
	fmt.Println(b.String())
}

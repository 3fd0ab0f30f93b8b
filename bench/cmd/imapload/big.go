package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// big times the operations on a big mailbox, o.rounds rounds, each on a
// new connection; the first SELECT ever is reported on its own (a server
// may build its index then).
func big(o opts) error {
	times := map[string][]time.Duration{}
	counts := map[string]int{}
	keys := []string{"select", "fetch_flags", "search_unseen", "search_from"}
	for round := range o.rounds {
		c, err := dial(o.addr, "", 10*time.Second)
		if err != nil {
			return err
		}
		if err := c.deadline(10 * time.Minute); err != nil {
			return err
		}
		if err := c.login(o.user, o.pass); err != nil {
			return err
		}
		n := 0
		count := func(l string) { n += strings.Count(l, " ") - 1 } // SEARCH hits
		lines := func(string) { n++ }
		for _, op := range []struct {
			key, command string
			each         func(string)
		}{
			{"select", "SELECT " + quote(o.mailbox), nil},
			{"fetch_flags", "FETCH 1:* (FLAGS)", lines},
			{"search_unseen", "UID SEARCH UNSEEN", count},
			{"search_from", `UID SEARCH FROM "sender42@"`, count},
		} {
			n = 0
			t := time.Now()
			if _, err := c.cmd(op.each, op.command); err != nil {
				return err
			}
			d := time.Since(t)
			if round == 0 && op.key == "select" {
				counts["select_first_us"] = int(d.Microseconds())
			}
			times[op.key] = append(times[op.key], d)
			counts[op.key] = n
		}
		if _, err := c.cmd(nil, "LOGOUT"); err != nil {
			return err
		}
		_ = c.close() // teardown
	}
	out := []string{"rounds", strconv.Itoa(o.rounds), "select_first_ms", ms(time.Duration(counts["select_first_us"]) * time.Microsecond)}
	for _, k := range keys {
		out = append(out, k+"_ms", ms(pct(times[k], 50)))
	}
	out = append(out, "flags_n", strconv.Itoa(counts["fetch_flags"]), "unseen_n", strconv.Itoa(counts["search_unseen"]), "from_n", strconv.Itoa(counts["search_from"]))
	kv(out...)
	return nil
}

// push measures the IDLE push latency: from the 250 that accepts a
// message over SMTP to the EXISTS the IDLE session gets.
func push(o opts) error {
	c, err := dial(o.addr, "", 10*time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.close() }() // teardown
	if err := c.deadline(time.Minute); err != nil {
		return err
	}
	if err := c.login(o.user, o.pass); err != nil {
		return err
	}
	exists, err := c.selectBox(o.mailbox)
	if err != nil {
		return err
	}
	if _, err := c.send("IDLE"); err != nil {
		return err
	}
	if l, _, err := c.line(); err != nil || !strings.HasPrefix(l, "+") {
		return fmt.Errorf("IDLE: %q %w", l, err)
	}
	var lat []time.Duration
	lost := 0
	for i := range o.n {
		at, err := smtpSend(o.smtp, o.rcpt, i)
		if err != nil {
			return err
		}
		got, err := waitExists(c, exists, 10*time.Second)
		if err != nil {
			lost++
			fmt.Fprintln(os.Stderr, "push:", err)
			if lost > 2 {
				break
			}
			continue
		}
		exists = got.n
		lat = append(lat, got.at.Sub(at))
		time.Sleep(100 * time.Millisecond)
	}
	kv("n", strconv.Itoa(len(lat)), "lost", strconv.Itoa(lost), "push_p50_ms", ms(pct(lat, 50)), "push_max_ms", ms(pct(lat, 100)))
	return nil
}

type existsAt struct {
	n  int
	at time.Time
}

// waitExists reads IDLE's untagged lines until an EXISTS above before.
func waitExists(c *client, before int, within time.Duration) (existsAt, error) {
	if err := c.deadline(within); err != nil {
		return existsAt{}, err
	}
	for {
		l, _, err := c.line()
		if err != nil {
			return existsAt{}, fmt.Errorf("no EXISTS above %d: %w", before, err)
		}
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "*" && f[2] == "EXISTS" {
			if n, _ := strconv.Atoi(f[1]); n > before {
				return existsAt{n, time.Now()}, nil
			}
		}
	}
}

// smtpSend sends one message to rcpt and returns when its 250 came.
func smtpSend(addr, rcpt string, i int) (time.Time, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return time.Time{}, err
	}
	r := bufio.NewReader(conn)
	reply := func(want string) error {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(l) < 4 || !strings.HasPrefix(l, want) {
				return fmt.Errorf("SMTP: %q, want %s", strings.TrimSpace(l), want)
			}
			if l[3] == ' ' {
				return nil
			}
		}
	}
	if err := reply("220"); err != nil {
		return time.Time{}, err
	}
	for _, s := range []struct{ cmd, want string }{
		{"EHLO load.example.org", "250"}, {"MAIL FROM:<probe@example.org>", "250"}, {"RCPT TO:<" + rcpt + ">", "250"}, {"DATA", "354"},
	} {
		if _, err := fmt.Fprintf(conn, "%s\r\n", s.cmd); err != nil {
			return time.Time{}, err
		}
		if err := reply(s.want); err != nil {
			return time.Time{}, err
		}
	}
	msg := strings.ReplaceAll(string(message("probe@example.org", "push probe", i)), "\r\n.", "\r\n..")
	if _, err := fmt.Fprintf(conn, "%s.\r\n", msg); err != nil {
		return time.Time{}, err
	}
	if err := reply("250"); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	if _, err := fmt.Fprintf(conn, "QUIT\r\n"); err != nil {
		return at, nil // the message is in: QUIT is a courtesy
	}
	return at, nil
}

// hold opens o.n connections in IDLE, spread over users and loopback
// source addresses, o.par at a time, for at most o.within; prints held=
// and keeps them o.hold.
func hold(o opts) error {
	users, err := userList(o.users)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		conns  []*client
		failed atomic.Int64
		next   atomic.Int64
		last   atomic.Value
	)
	end := time.Now().Add(o.within)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.par {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < o.n && time.Now().Before(end) && failed.Load() < 50; i = int(next.Add(1) - 1) {
				src := fmt.Sprintf("127.0.1.%d", 1+(i/len(users))%o.srcs)
				c, err := idleConn(o, users[i%len(users)], src, time.Until(end))
				if err != nil {
					failed.Add(1)
					last.Store(err.Error())
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	kv("held", strconv.Itoa(len(conns)), "failed", strconv.FormatInt(failed.Load(), 10), "open_secs", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	if e, ok := last.Load().(string); ok {
		fmt.Printf("# last error: %s\n", e)
	}
	time.Sleep(o.hold)
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.close())
	}
	return errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
}

// idleConn logs in from src, selects the mailbox and enters IDLE.
func idleConn(o opts, user, src string, within time.Duration) (*client, error) {
	within = min(within, 20*time.Second)
	c, err := dial(o.addr, src, within)
	if err != nil {
		return nil, err
	}
	if err := c.login(user, o.pass); err != nil {
		_ = c.close() // teardown
		return nil, err
	}
	if _, err := c.selectBox(o.mailbox); err != nil {
		_ = c.close() // teardown
		return nil, err
	}
	if _, err := c.send("IDLE"); err != nil {
		_ = c.close() // teardown
		return nil, err
	}
	if l, _, err := c.line(); err != nil || !strings.HasPrefix(l, "+") {
		_ = c.close() // teardown
		return nil, fmt.Errorf("IDLE: %q %w", l, err)
	}
	if err := c.c.SetDeadline(time.Time{}); err != nil {
		_ = c.close() // teardown
		return nil, err
	}
	return c, nil
}

// seen marks all but the newest o.n messages \Seen, as a mailbox read
// for years is, so UNSEEN finds a few; it reports the time the STORE took.
func seen(o opts) error {
	c, err := dial(o.addr, "", 10*time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.close() }() // teardown
	if err := c.deadline(10 * time.Minute); err != nil {
		return err
	}
	if err := c.login(o.user, o.pass); err != nil {
		return err
	}
	exists, err := c.selectBox(o.mailbox)
	if err != nil {
		return err
	}
	if exists <= o.n {
		return fmt.Errorf("%s holds %d messages, not more than %d", o.mailbox, exists, o.n)
	}
	t := time.Now()
	if _, err := c.cmd(nil, fmt.Sprintf("STORE 1:%d +FLAGS.SILENT (\\Seen)", exists-o.n)); err != nil {
		return err
	}
	d := time.Since(t)
	if _, err := c.cmd(nil, "LOGOUT"); err != nil {
		return err
	}
	kv("seen_n", strconv.Itoa(exists-o.n), "store_seen_ms", ms(d))
	return nil
}

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// setup appends messages until each user's mailbox holds o.n.
func setup(o opts) error {
	users, err := userList(o.users)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(users))
	start := time.Now()
	for i, u := range users {
		wg.Go(func() { errs[i] = fill(o, u) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	kv("users", strconv.Itoa(len(users)), "messages", strconv.Itoa(o.n), "secs", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	return nil
}

func fill(o opts, user string) error {
	c, err := dial(o.addr, "", 10*time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.close() }() // teardown
	if err := c.deadline(10 * time.Minute); err != nil {
		return err
	}
	if err := c.login(user, o.pass); err != nil {
		return fmt.Errorf("%s: %w", user, err)
	}
	exists, err := c.selectBox(o.mailbox)
	if err != nil {
		return err
	}
	for i := exists; i < o.n; i++ {
		if _, err := c.appendMsg(o.mailbox, message("setup@example.org", "setup message", i)); err != nil {
			return err
		}
	}
	_, err = c.cmd(nil, "LOGOUT")
	return err
}

// ops are the mixed load's operations, in session order.
var ops = []string{"login", "select", "fetch", "store", "append", "delete", "expunge", "logout"}

// mixedStats gathers the latencies of every operation.
type mixedStats struct {
	mu   sync.Mutex
	lat  map[string][]time.Duration
	errs atomic.Int64
	last atomic.Value // string: the last error
}

func (s *mixedStats) add(op string, d time.Duration) {
	s.mu.Lock()
	s.lat[op] = append(s.lat[op], d)
	s.mu.Unlock()
}

// mixed runs the 10-client mixed load, bounded by o.sessions and
// o.duration.
func mixed(o opts) error {
	users, err := userList(o.users)
	if err != nil {
		return err
	}
	st := &mixedStats{lat: map[string][]time.Duration{}}
	var left atomic.Int64
	left.Store(int64(o.sessions))
	end := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	start := time.Now()
	var done atomic.Int64
	addrs := strings.Split(o.addr, ",") // several nodes of one box: the clients take turns
	for i := range o.clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 18))
			oc := o
			oc.addr = addrs[i%len(addrs)]
			for n := 0; left.Add(-1) >= 0 && time.Now().Before(end); n++ {
				if err := session(oc, users[i%len(users)], r, n, st); err != nil {
					st.errs.Add(1)
					st.last.Store(err.Error())
					time.Sleep(50 * time.Millisecond) // an error does not spin
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	nops := 0
	out := []string{}
	for _, op := range ops {
		l := st.lat[op]
		nops += len(l)
		out = append(out, op+"_p50_ms", ms(pct(l, 50)), op+"_p99_ms", ms(pct(l, 99)))
	}
	head := []string{"clients", strconv.Itoa(o.clients), "sessions", strconv.FormatInt(done.Load(), 10),
		"ops", strconv.Itoa(nops), "secs", fmt.Sprintf("%.2f", secs), "ops_s", fmt.Sprintf("%.1f", float64(nops)/secs),
		"errors", strconv.FormatInt(st.errs.Load(), 10)}
	kv(append(head, out...)...)
	if e, ok := st.last.Load().(string); ok {
		fmt.Printf("# last error: %s\n", e)
	}
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// session is one client session of the mixed load; every operation that
// succeeds is counted.
func session(o opts, user string, r *rand.Rand, n int, st *mixedStats) error {
	c, err := dial(o.addr, "", 10*time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.close() }() // teardown
	step := func(op string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		st.add(op, time.Since(t))
		return nil
	}
	var exists int
	var uid string
	steps := []func() error{
		func() error { return c.login(user, o.pass) },
		func() (err error) { exists, err = c.selectBox(o.mailbox); return err },
		func() error {
			_, err := c.cmd(nil, fmt.Sprintf("FETCH %d:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])", max(1, exists-19)))
			return err
		},
		func() error {
			sign := "+"
			if r.IntN(2) == 0 {
				sign = "-"
			}
			_, err := c.cmd(nil, fmt.Sprintf("STORE %d %sFLAGS.SILENT (\\Flagged)", 1+r.IntN(max(1, exists)), sign))
			return err
		},
		func() error {
			tagged, err := c.appendMsg(o.mailbox, message("load@example.org", "load message", n))
			uid = appendUID(tagged)
			return err
		},
		func() error {
			if uid == "" {
				_, err := c.cmd(nil, "STORE * +FLAGS.SILENT (\\Deleted)")
				return err
			}
			_, err := c.cmd(nil, "UID STORE "+uid+" +FLAGS.SILENT (\\Deleted)")
			return err
		},
		func() error { _, err := c.cmd(nil, "EXPUNGE"); return err },
		func() error { _, err := c.cmd(nil, "LOGOUT"); return err },
	}
	if err := c.deadline(30 * time.Second); err != nil {
		return err
	}
	for i, f := range steps {
		if err := step(ops[i], f); err != nil {
			return err
		}
	}
	return nil
}

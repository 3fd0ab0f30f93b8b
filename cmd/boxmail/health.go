package main

// The machine checks of 'boxmail status' and the admin panel's Status
// page (issue 21), beside the DNS, certificate and backup checks of
// status.go: free disk and inodes of the data dir, memory, the clock,
// outbound port 25, the queue, the release, mail loops. Each is a
// dnsrecords.Result with what to do.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// Thresholds of the machine checks.
const (
	diskWarnPercent   = 20 // free disk or inodes below: warn
	memWarnPercent    = 20 // memory available below: warn
	memFailPercent    = 10
	clockWarn         = 2 * time.Second // |offset| to the NTP server above: warn
	clockFail         = 30 * time.Second
	queueStaleAfter   = time.Hour
	loopWindow        = 24 * time.Hour
	machineSubject    = "machine"
	defaultProbeLimit = 3 * time.Second
)

// machineChecks are the checks of the machine the box runs on; timeout
// bounds each network probe (port 25, NTP); names are looked up through r.
func machineChecks(ctx context.Context, dir string, cfg config.Config, st *store.Store, r resolver.Resolver, timeout time.Duration, now time.Time) []dnsrecords.Result {
	if timeout <= 0 {
		timeout = defaultProbeLimit
	}
	out := []dnsrecords.Result{diskCheck(dir, cfg), memoryCheck("/proc/meminfo"), clockCheck(cfg, timeout, now), port25Check(ctx, cfg, r, timeout)}
	out = append(out, queueCheck(ctx, st, now), releaseCheck(cfg.Health.LatestRelease, version), loopCheck(ctx, st, now))
	for i := range out {
		out[i].Subject = machineSubject
	}
	return out
}

// diskFailPercent is the free share below which the disk check fails:
// the configured gate, and never below store.DefaultMinFreePercent.
func diskFailPercent(cfg config.Config) float64 {
	return max(float64(cfg.Health.MinFreePercent), store.DefaultMinFreePercent)
}

// diskCheck is the contract's line: the data dir's free disk space (and
// inodes).
func diskCheck(dir string, cfg config.Config) dnsrecords.Result {
	r := dnsrecords.Result{Check: "free disk"}
	d, err := store.DiskSpaceOf(dir)
	if err != nil {
		r.Level, r.Found, r.Fix = dnsrecords.Warn, "cannot ask the filesystem of "+dir+": "+err.Error(), "check that the data directory exists"
		return r
	}
	r.Found = fmt.Sprintf("data dir %s: %.1f%% free (%s of %s), %.1f%% of inodes free", dir, d.FreePct, sizeText(int64(d.Avail)), sizeText(int64(d.Total)), d.FilesFreePct)
	fail := diskFailPercent(cfg)
	low := min(d.FreePct, d.FilesFreePct)
	switch {
	case low < fail:
		r.Level = dnsrecords.Fail
		r.Fix = fmt.Sprintf("below %.0f%% free new mail is refused (452 4.3.1): free space now (empty Trash and Junk, move old backups away) or grow the disk", fail)
	case low < diskWarnPercent:
		r.Level = dnsrecords.Warn
		r.Fix = fmt.Sprintf("below %.0f%% free the box refuses new mail: free space or grow the disk soon", fail)
	default:
		r.Level = dnsrecords.OK
	}
	return r
}

// memoryCheck reads MemTotal and MemAvailable (Linux).
func memoryCheck(path string) dnsrecords.Result {
	r := dnsrecords.Result{Check: "memory"}
	total, avail, err := readMeminfo(path)
	if err != nil {
		r.Level, r.Found = dnsrecords.OK, "not checked: "+err.Error()
		return r
	}
	pct := 100 * float64(avail) / float64(total)
	r.Found = fmt.Sprintf("%.0f%% available (%s of %s)", pct, sizeText(avail), sizeText(total))
	switch {
	case pct < memFailPercent:
		r.Level, r.Fix = dnsrecords.Fail, "the system will soon kill processes: stop other services or add memory"
	case pct < memWarnPercent:
		r.Level, r.Fix = dnsrecords.Warn, "memory is short: lower spam_memory, stop other services or add memory"
	default:
		r.Level = dnsrecords.OK
	}
	return r
}

func readMeminfo(path string) (total, avail int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		n, perr := strconv.ParseInt(fields[1], 10, 64)
		if perr != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			total = n << 10
		case "MemAvailable:":
			avail = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if total <= 0 || avail <= 0 {
		return 0, 0, fmt.Errorf("no MemTotal/MemAvailable in %s", path)
	}
	return total, avail, nil
}

// clockCheck compares the clock with the configured NTP server. With
// none set nothing is compared: without a network there is no second
// clock to trust, and the monotonic clock only measures this process's
// drift from its own start, which says nothing of the wall clock's error.
func clockCheck(cfg config.Config, timeout time.Duration, now time.Time) dnsrecords.Result {
	r := dnsrecords.Result{Check: "clock", Level: dnsrecords.OK}
	if cfg.Health.NTPServer == "" {
		r.Found = "not checked: no ntp_server in boxmail.conf (the system's time daemon is trusted)"
		return r
	}
	off, err := ntpOffset(cfg.Health.NTPServer, timeout, now)
	if err != nil {
		r.Level, r.Found, r.Fix = dnsrecords.Warn, "asking "+cfg.Health.NTPServer+": "+err.Error(), "check ntp_server and that UDP port 123 is open"
		return r
	}
	r.Found = fmt.Sprintf("%s from %s", off.Round(time.Millisecond), cfg.Health.NTPServer)
	switch a := off.Abs(); {
	case a > clockFail:
		r.Level, r.Fix = dnsrecords.Fail, "two-step codes, DKIM signatures and TLS need a right clock: run a time daemon (systemd-timesyncd, chrony)"
	case a > clockWarn:
		r.Level, r.Fix = dnsrecords.Warn, "run a time daemon (systemd-timesyncd, chrony)"
	}
	return r
}

// ntpOffset asks an SNTP server (RFC 4330) how far the local clock is
// off: positive when the local clock is behind.
func ntpOffset(addr string, timeout time.Duration, _ time.Time) (time.Duration, error) {
	c, err := net.DialTimeout("udp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	req := make([]byte, 48)
	req[0] = 0x23 // LI 0, version 4, mode 3 (client)
	t1 := time.Now()
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	resp := make([]byte, 48)
	n, err := c.Read(resp)
	if err != nil {
		return 0, err
	}
	t4 := time.Now()
	if n < 48 || resp[0]&0x7 != 4 {
		return 0, fmt.Errorf("not an NTP server answer")
	}
	t2, t3 := ntpTime(resp[32:40]), ntpTime(resp[40:48])
	return (t2.Sub(t1) + t3.Sub(t4)) / 2, nil
}

// ntpEpoch is 1900-01-01 in Unix seconds.
const ntpEpoch = 2208988800

func ntpTime(b []byte) time.Time {
	sec, frac := binary.BigEndian.Uint32(b[:4]), binary.BigEndian.Uint32(b[4:])
	return time.Unix(int64(sec)-ntpEpoch, int64(frac)*1e9>>32)
}

// port25Check dials a mail server's port 25, bounded by timeout: many
// providers block outbound port 25, and then only a smarthost helps. The
// probe's name is looked up through the box's resolver, like every
// other name the box looks up.
func port25Check(ctx context.Context, cfg config.Config, res resolver.Resolver, timeout time.Duration) dnsrecords.Result {
	r := dnsrecords.Result{Check: "outbound port 25", Level: dnsrecords.OK}
	switch probe := cfg.Health.Port25Probe; {
	case cfg.Outbound.Smarthost != "":
		r.Found = "not needed: the smarthost " + cfg.Outbound.Smarthost + " relays all outbound mail"
	case probe == "" || probe == "off":
		r.Found = "not checked (port25_probe is off)"
	default:
		c, err := dialProbe(ctx, res, probe, timeout)
		if err != nil {
			r.Level, r.Found = dnsrecords.Warn, "cannot reach "+probe+": "+err.Error()
			r.Fix = "ask the provider to open outbound port 25, or set smarthost in boxmail.conf; no network here: set port25_probe = off"
			return r
		}
		_ = c.Close() // a probe: it only had to connect
		r.Found = "open: " + probe + " answers"
	}
	return r
}

// dialProbe connects to host:port, the host looked up through r.
func dialProbe(ctx context.Context, r resolver.Resolver, hostport string, timeout time.Duration) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := resolver.LookupIP(ctx, r, host)
		if lerr != nil {
			return nil, fmt.Errorf("looking up %s: %w", host, lerr)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
		ip = ips[0]
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
}

// queueCheck warns about mail waiting in the queue for over an hour.
func queueCheck(ctx context.Context, st *store.Store, now time.Time) dnsrecords.Result {
	r := dnsrecords.Result{Check: "queue", Level: dnsrecords.OK}
	items, err := st.Queue(ctx)
	if err != nil {
		r.Level, r.Found = dnsrecords.Warn, "cannot read the queue: "+err.Error()
		return r
	}
	var old int
	var oldest time.Time
	for _, it := range items {
		if now.Sub(it.Created) > queueStaleAfter {
			old++
		}
		if oldest.IsZero() || it.Created.Before(oldest) {
			oldest = it.Created
		}
	}
	r.Found = fmt.Sprintf("%d message(s) waiting", len(items))
	if old > 0 {
		r.Level = dnsrecords.Warn
		r.Found += fmt.Sprintf(", %d for over an hour (the oldest since %s)", old, oldest.UTC().Format(time.RFC3339))
		r.Fix = "see why in 'boxmail queue list' or the Mail queue page: a blocked port 25, a receiver refusing the box, DNS"
	}
	return r
}

// releaseCheck compares this binary's version with the newest release
// written in boxmail.conf (latest_release); no network call.
func releaseCheck(latest, have string) dnsrecords.Result {
	r := dnsrecords.Result{Check: "release", Level: dnsrecords.OK, Found: "boxmail " + have}
	if latest == "" {
		r.Found += "; no latest_release in boxmail.conf to compare with"
		return r
	}
	l, ok1 := config.ParseVersion(latest)
	h, ok2 := config.ParseVersion(have)
	if !ok1 || !ok2 {
		r.Found += "; cannot compare with " + latest
		return r
	}
	for i := range l {
		if l[i] != h[i] {
			if l[i] > h[i] {
				r.Level, r.Found = dnsrecords.Warn, "boxmail "+have+" runs; "+latest+" is out"
				r.Fix = "install boxmail " + latest + " (read its release notes first)"
			}
			break
		}
	}
	if r.Level == dnsrecords.OK {
		r.Found += ", the newest (" + latest + ")"
	}
	return r
}

// loopCheck warns when messages hit the hop limit in the last day: a
// forwarding loop between the box and another server.
func loopCheck(ctx context.Context, st *store.Store, now time.Time) dnsrecords.Result {
	r := dnsrecords.Result{Check: "mail loops", Level: dnsrecords.OK, Found: "none in the last 24 hours"}
	h, err := st.HistorySince(ctx, now.Add(-loopWindow))
	if err != nil {
		r.Level, r.Found = dnsrecords.Warn, "cannot read the history: "+err.Error()
		return r
	}
	if h.Loops > 0 {
		r.Level = dnsrecords.Warn
		r.Found = fmt.Sprintf("%d message(s) went through too many hops in the last 24 hours", h.Loops)
		r.Fix = "look for a forward or alias that points back (the log says 'too many hops'); check the forwards of the accounts involved"
	}
	return r
}

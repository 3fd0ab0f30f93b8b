package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"boxmail/internal/config"
	"boxmail/internal/dnsd"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// recordInput builds the record set's input from the store and the
// config; dnsrecords does not see either.
func recordInput(ctx context.Context, dir string, st *store.Store, cfg config.Config) (dnsrecords.Input, error) {
	gen, err := st.Generation(ctx)
	if err != nil {
		return dnsrecords.Input{}, err
	}
	return recordInputAt(ctx, dir, st, cfg, gen)
}

// buildRecords computes the box's record set now.
func buildRecords(ctx context.Context, dir string, st *store.Store, cfg config.Config) (*dnsrecords.Set, dnsrecords.Input, error) {
	in, err := recordInput(ctx, dir, st, cfg)
	if err != nil {
		return nil, in, err
	}
	set, err := dnsrecords.Build(in)
	return set, in, err
}

func recordInputAt(ctx context.Context, dir string, st *store.Store, cfg config.Config, gen int64) (dnsrecords.Input, error) {
	in := dnsrecords.Input{
		Hostname: cfg.Hostname, IPv4: cfg.PublicIPv4, IPv6: cfg.PublicIPv6,
		Submission: cfg.SubmissionPort, Submissions: cfg.SubmissionsPort, IMAP: cfg.IMAPPort, IMAPS: cfg.IMAPSPort, POP3S: cfg.POP3SPort,
		Serial: uint32(gen),
	}
	if cr := checkCert(dir, cfg); len(cr) > 0 && cr[0].Level == dnsrecords.OK {
		in.MTASTSEnforce = true // the web server serves mode: enforce
	}
	domains, err := st.Domains(ctx)
	if err != nil {
		return in, err
	}
	keys, err := st.DKIMKeys(ctx, "")
	if err != nil {
		return in, err
	}
	for _, d := range domains {
		dom := dnsrecords.Domain{Name: d.Name}
		for _, k := range keys {
			if k.Domain == d.Name {
				dom.DKIM = append(dom.DKIM, dnsrecords.DKIMKey{Selector: k.Selector, PrivatePEM: k.Private})
			}
		}
		in.Domains = append(in.Domains, dom)
	}
	custom, err := st.DNSRecords(ctx)
	if err != nil {
		return in, err
	}
	for _, c := range custom {
		in.Custom = append(in.Custom, dnsrecords.Custom{Name: c.Name, Type: c.Type, Value: c.Value})
	}
	return in, nil
}

// openBox loads the config and opens the store of a data dir.
func openBox(dir string) (config.Config, *store.Store, error) {
	cfg, err := config.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil, fmt.Errorf("no %s in %s: create the box with 'boxmail init' first", config.FileName, dir)
	} else if err != nil {
		return cfg, nil, err
	}
	st, err := openStore(dir)
	return cfg, st, err
}

// zonesFor returns the zones to show: all, or the one of a domain.
func zonesFor(set *dnsrecords.Set, domain string) ([]string, error) {
	if domain == "" {
		return set.Zones, nil
	}
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, z := range set.Zones {
		if z == d {
			return []string{z}, nil
		}
	}
	return nil, fmt.Errorf("%s is not a hosted domain (zones: %s)", d, strings.Join(set.Zones, ", "))
}

func cmdDNS(e *env, args []string) error {
	sub, args, err := subcommand(args, "dns", "records", "set", "unset")
	if err != nil {
		return err
	}
	var dir, format string
	fs := newFlags(e, "dns "+sub, &dir)
	if sub == "records" {
		fs.StringVar(&format, "format", "table", "table (for DNS hosts' forms), zone (a zone file) or json")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "records":
		if len(pos) > 1 {
			return usagef("dns records takes at most one DOMAIN")
		}
		if format != "table" && format != "zone" && format != "json" {
			return usagef("--format must be table, zone or json, not %q", format)
		}
	case "set":
		if len(pos) < 3 {
			return usagef("usage: dns set NAME TYPE VALUE (e.g. dns set www.example.net A 192.0.2.1)")
		}
	case "unset":
		if len(pos) < 2 {
			return usagef("usage: dns unset NAME TYPE [VALUE]")
		}
	}
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	set, in, err := buildRecords(ctx, dir, st, cfg)
	if err != nil {
		return err
	}
	switch sub {
	case "records":
		domain := ""
		if len(pos) == 1 {
			domain = pos[0]
		}
		zones, err := zonesFor(set, domain)
		if err != nil {
			return err
		}
		switch format {
		case "zone":
			return set.WriteZone(e.stdout, zones)
		case "json":
			return set.WriteJSON(e.stdout, zones)
		}
		return set.WriteTable(e.stdout, zones)
	case "set":
		c, replaced, err := newAdmin(st).SetDNSRecord(ctx, set, in, pos[0], pos[1], strings.Join(pos[2:], " "))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added %s %s %s\n", c.Name, c.Type, c.Value)
		for _, r := range replaced {
			if !r.Custom {
				fmt.Fprintf(e.stdout, "it replaces the generated %s %s %s (%s)\n", r.Relative(), r.Type, r.Text(), r.Why)
			}
		}
		return nil
	case "unset":
		name, typ, n, err := newAdmin(st).UnsetDNSRecords(ctx, set, pos[0], pos[1], strings.Join(pos[2:], " "))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %d custom record(s) %s %s\n", n, name, typ)
		return nil
	}
	return nil
}

// dnsServer runs dnsd on the TCP listener serve gives it and on a UDP
// socket of the same address.
type dnsServer struct {
	*dnsd.Server
	pc  net.PacketConn
	log *slog.Logger
}

func newDNSServer(dir string, st *store.Store, cfg config.Config, log *slog.Logger) *dnsServer {
	return &dnsServer{log: log, Server: dnsd.New(dnsd.Options{
		Logger:     log,
		Generation: st.Generation,
		Records: func(ctx context.Context, gen int64) (*dnsrecords.Set, error) {
			in, err := recordInputAt(ctx, dir, st, cfg, gen)
			if err != nil {
				return nil, err
			}
			return dnsrecords.Build(in)
		},
		// Loopback cannot be spoofed from outside, and benchmarks run there.
		RateLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})}
}

// ListenPacket opens the UDP socket; serve calls it next to the TCP
// listener so that a port in use fails before anything starts.
func (d *dnsServer) ListenPacket(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	d.pc = pc
	return nil
}

// Serve answers over UDP and over TCP on ln.
func (d *dnsServer) Serve(ln net.Listener) error {
	if d.pc != nil {
		go func() {
			if err := d.Server.ServePacket(d.pc); err != nil {
				d.log.Error("DNS over UDP stopped", "err", err)
			}
		}()
	}
	return d.Server.Serve(ln)
}

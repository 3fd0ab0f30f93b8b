package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// newAdmin is the admin service of a command that runs no server.
func newAdmin(st *store.Store) *admin.Service { return admin.New(admin.Options{Store: st}) }

// checkPassword is admin.CheckPassword, for cmdInit, whose --admin
// flag's variable hides the package's name.
func checkPassword(pw string, a delivery.Address) error { return admin.CheckPassword(pw, a) }

// addFirstAdmin creates a new box's admin account (initBox).
func addFirstAdmin(ctx context.Context, st *store.Store, email, password string) error {
	a, err := delivery.ParseAddress(email)
	if err != nil {
		return err
	}
	return newAdmin(st).AddAccount(ctx, a, password, true)
}

// newBoxAdmin is the admin service with the config's hostname and
// resolvers, the box's DNS records (the migration checklist, DKIM
// checks, bounces of removed queue entries) and, when serving, the
// running deliverer and queue (nil otherwise).
func newBoxAdmin(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue) *admin.Service {
	return admin.New(admin.Options{Store: st, Deliverer: d, Queue: q, Hostname: cfg.Hostname, Resolvers: cfg.Resolvers,
		Records: func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error) {
			return buildRecords(ctx, dir, st, cfg)
		}})
}

// openStore opens the store of an existing data dir.
func openStore(dir string) (*store.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data dir %s does not exist (create it with 'boxmail init' or 'boxmail quickstart')", dir)
	}
	return store.Open(context.Background(), dir, store.Options{})
}

func subcommand(args []string, cmd string, subs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usagef("missing subcommand: %s", strings.Join(subs, ", "))
	}
	for _, s := range subs {
		if args[0] == s {
			return s, args[1:], nil
		}
	}
	return "", nil, usagef("unknown %s subcommand %q (want %s)", cmd, args[0], strings.Join(subs, ", "))
}

func cmdDomain(e *env, args []string) error {
	sub, args, err := subcommand(args, "domain", "add", "list", "remove")
	if err != nil {
		return err
	}
	var dir string
	fs := newFlags(e, "domain "+sub, &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	if len(pos) != want {
		return usagef("domain %s takes %d argument(s), got %d", sub, want, len(pos))
	}
	var name string
	if want == 1 {
		if name, err = delivery.ParseHostedDomain(pos[0]); err != nil {
			return usagef("%v", err)
		}
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch sub {
	case "add":
		if err := newAdmin(st).AddDomain(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added domain %s\n", name)
		if err := printDKIMRecords(e, st, name); err != nil {
			return err
		}
	case "remove":
		if err := newAdmin(st).RemoveDomain(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed domain %s\n", name)
	case "list":
		ds, err := st.Domains(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			fmt.Fprintln(e.stdout, d.Name)
		}
	}
	return nil
}

func cmdUser(e *env, args []string) error {
	if len(args) > 0 && args[0] == "quota" {
		return cmdUserQuota(e, args[1:])
	}
	if len(args) > 0 && args[0] == "totp" {
		return cmdUserTOTP(e, args[1:])
	}
	if len(args) > 0 && args[0] == "app-password" {
		return cmdUserAppPassword(e, args[1:])
	}
	sub, args, err := subcommand(args, "user", "add", "list", "passwd", "remove", "admin")
	if err != nil {
		return err
	}
	var dir, pwFile string
	var isAdmin, revokeApps bool
	fs := newFlags(e, "user "+sub, &dir)
	if sub == "add" || sub == "passwd" {
		fs.StringVar(&pwFile, "password-file", "", "read the password from this file's first line (default: prompt, or stdin when not a terminal)")
	}
	if sub == "add" {
		fs.BoolVar(&isAdmin, "admin", false, "make the account an administrator")
	}
	if sub == "passwd" {
		fs.BoolVar(&revokeApps, "revoke-app-passwords", false, "also revoke all the account's app passwords (a lost phone, a leaked password)")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "list": 0, "passwd": 1, "remove": 1, "admin": 2}[sub]
	if len(pos) != want {
		return usagef("user %s takes %d argument(s), got %d", sub, want, len(pos))
	}
	var addr delivery.Address
	if want > 0 {
		if addr, err = delivery.ParseAddress(pos[0]); err != nil {
			return usagef("%v", err)
		}
	}
	if sub == "admin" && pos[1] != "on" && pos[1] != "off" {
		return usagef("user admin EMAIL on|off: got %q", pos[1])
	}
	var pw string
	if sub == "add" || sub == "passwd" {
		if pw, err = readPassword(e, pwFile); err != nil {
			return err
		}
		if err := admin.CheckPassword(pw, addr); err != nil {
			return err
		}
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	email := addr.String()
	switch sub {
	case "add":
		if err := newAdmin(st).AddAccount(ctx, addr, pw, isAdmin); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added user %s\n", email)
	case "passwd":
		return setPassword(e, st, addr, pw, revokeApps)
	case "remove":
		if err := newAdmin(st).RemoveAccount(ctx, addr); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed user %s and all its mail\n", email)
	case "admin":
		if err := newAdmin(st).SetAdmin(ctx, addr, pos[1] == "on"); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: admin %s\n", email, pos[1])
	case "list":
		as, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.Admin {
				fmt.Fprintf(e.stdout, "%s\tadmin\n", a.Email)
			} else {
				fmt.Fprintln(e.stdout, a.Email)
			}
		}
	}
	return nil
}

// setPassword is 'user passwd': the new password ends the account's web
// sessions; its app passwords are revoked too when asked, else counted.
func setPassword(e *env, st *store.Store, addr delivery.Address, pw string, revokeApps bool) error {
	ctx := context.Background()
	email := addr.String()
	adm := newAdmin(st)
	if err := adm.SetPassword(ctx, addr, pw); err != nil {
		return err
	}
	// The running server ends the web sessions made under the old
	// password at their next request (store.SessionStamp).
	fmt.Fprintf(e.stdout, "changed the password of %s; its web sessions are ended (it logs in again with the new password)\n", email)
	if revokeApps {
		n, err := adm.RevokeAppPasswords(ctx, email)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked its %d app password(s): each mail app needs a new one\n", n)
	} else if ps, err := st.AppPasswords(ctx, email); err != nil {
		return err
	} else if len(ps) > 0 {
		fmt.Fprintf(e.stdout, "its %d app password(s) still work; revoke them with 'boxmail user passwd --revoke-app-passwords' or 'boxmail user app-password revoke'\n", len(ps))
	}
	return nil
}

// readPassword reads a new password from a file, from a terminal prompt
// (twice, without echo) or from the first line of stdin.
func readPassword(e *env, file string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading password file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "New password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords do not match")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password given on stdin (or use --password-file)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

func cmdAlias(e *env, args []string) error {
	sub, args, err := subcommand(args, "alias", "add", "list", "remove")
	if err != nil {
		return err
	}
	var dir string
	var permit listFlag
	fs := newFlags(e, "alias "+sub, &dir)
	if sub == "add" {
		fs.Var(&permit, "permit", "account allowed to send as the alias (repeatable, or comma-separated)")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	want := map[string]int{"add": 2, "list": 0, "remove": 1}[sub]
	if len(pos) != want {
		return usagef("alias %s takes %d argument(s), got %d", sub, want, len(pos))
	}
	var alias string
	if want > 0 {
		if strings.HasPrefix(pos[0], "@") {
			d, err := delivery.ParseHostedDomain(pos[0][1:])
			if err != nil {
				return usagef("%v", err)
			}
			alias = "@" + d
		} else {
			a, err := delivery.ParseAddress(pos[0])
			if err != nil {
				return usagef("%v", err)
			}
			alias = a.String()
		}
	}
	var targets []string
	if sub == "add" {
		if targets, err = aliasTargets("add", pos[1], permit); err != nil {
			return err
		}
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch sub {
	case "add":
		// Local targets must exist, so a typo does not swallow mail.
		if err := newAdmin(st).AddAlias(ctx, store.Alias{Address: alias, Targets: targets, Permit: permit}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added alias %s -> %s\n", alias, strings.Join(targets, ","))
	case "remove":
		if err := newAdmin(st).RemoveAlias(ctx, alias); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed alias %s\n", alias)
	case "list":
		as, err := st.Aliases(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ALIAS\tTARGETS\tMAY SEND AS IT")
		for _, a := range as {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Address, strings.Join(a.Targets, ","), strings.Join(a.Permit, ","))
		}
		tw.Flush()
	}
	return nil
}

// aliasTargets parses an alias's comma-separated targets (at least one)
// and normalises the --permit addresses in place.
func aliasTargets(sub, list string, permit listFlag) ([]string, error) {
	var tl listFlag
	tl.Set(list)
	if len(tl) == 0 {
		return nil, usagef("alias %s needs at least one target", sub)
	}
	var targets []string
	for _, t := range tl {
		a, err := delivery.ParseAddress(t)
		if err != nil {
			return nil, usagef("target: %v", err)
		}
		targets = append(targets, a.String())
	}
	for i, p := range permit {
		a, err := delivery.ParseAddress(p)
		if err != nil {
			return nil, usagef("--permit: %v", err)
		}
		permit[i] = a.String()
	}
	return targets, nil
}

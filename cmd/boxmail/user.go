package main

// 'boxmail user': accounts, their passwords and quotas, the second
// factor of the web login (totp), per-device passwords (app-password),
// and closing an account while keeping its mail (disable, enable).

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/term"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

func userCommands() []subcommand {
	return []subcommand{
		{name: "add", args: "EMAIL [--admin] [--password-file F]", summary: "create an account (password prompted, or from stdin)", run: userAdd},
		{name: "list", summary: "the accounts", run: userList},
		{name: "passwd", args: "EMAIL [--password-file F] [--revoke-app-passwords]", summary: "change a password (ends its web sessions)", run: userPasswd},
		{name: "remove", args: "EMAIL", summary: "delete an account and all its mail", run: userRemove},
		{name: "admin", args: "EMAIL on|off", summary: "make an account an administrator, or not", run: userAdmin},
		{name: "quota", args: "[EMAIL [SIZE|none]]", summary: "show usage, or set an account's quota (2G, 500M, none)", run: userQuota},
		{name: "totp", args: "EMAIL enable|disable | forget-key", summary: "the web login's second factor (an authenticator app's code); forget-key: after losing keys/totp.key, turn it off for all", run: userTOTP},
		{name: "app-password", summary: "per-device passwords", subs: appPasswordCommands},
		{name: "disable", args: "EMAIL", summary: "close an account (no logins, mail to it refused) but keep its mail", run: userDisable},
		{name: "enable", args: "EMAIL", summary: "reopen a disabled account", run: userEnable},
	}
}

func appPasswordCommands() []subcommand {
	return []subcommand{
		{name: "add", args: "EMAIL NAME", summary: "make a password for one device's mail app (shown once)", run: appPasswordAdd},
		{name: "list", args: "EMAIL", summary: "an account's app passwords and when each was last used", run: appPasswordList},
		{name: "revoke", args: "EMAIL NAME", summary: "revoke one app password", run: appPasswordRevoke},
	}
}

// userArgs parses a user subcommand's flags and its n arguments, the
// first of which is an account's address (n < 0: any number, unparsed).
func userArgs(e *env, sub string, args []string, n int, flags func(*flag.FlagSet)) (dir string, addr delivery.Address, pos []string, err error) {
	if dir, pos, err = parseWith(e, "user "+sub, args, flags); err != nil {
		return "", addr, nil, err
	}
	if n < 0 { // the caller checks
		return dir, addr, pos, nil
	}
	if err := wantArgs("user "+sub, pos, n); err != nil {
		return "", addr, nil, err
	}
	if n > 0 {
		if addr, err = delivery.ParseAddress(pos[0]); err != nil {
			return "", addr, nil, usagef("%v", err)
		}
	}
	return dir, addr, pos, nil
}

// passwordArgs parses 'user add|passwd EMAIL' with --password-file and
// the flags flags adds, and reads the new password.
func passwordArgs(e *env, sub string, args []string, flags func(*flag.FlagSet)) (dir string, addr delivery.Address, pw string, err error) {
	var pwFile string
	dir, addr, _, err = userArgs(e, sub, args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&pwFile, "password-file", "", "read the password from this file's first line (default: prompt, or stdin when not a terminal)")
		flags(fs)
	})
	if err != nil {
		return "", addr, "", err
	}
	if pw, err = readNewPassword(e, pwFile, addr); err != nil {
		return "", addr, "", err
	}
	return dir, addr, pw, nil
}

func userAdd(e *env, args []string) error {
	var isAdmin bool
	dir, addr, pw, err := passwordArgs(e, "add", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&isAdmin, "admin", false, "make the account an administrator")
	})
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).AddAccount(context.Background(), addr, pw, isAdmin); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added user %s\n", addr)
		return nil
	})
}

func userList(e *env, args []string) error {
	dir, _, _, err := userArgs(e, "list", args, 0, nil)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		as, err := st.Accounts(context.Background())
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
		return nil
	})
}

// userPasswd is 'user passwd': the new password ends the account's web
// sessions; its app passwords are revoked too when asked, else counted.
func userPasswd(e *env, args []string) error {
	var revokeApps bool
	dir, addr, pw, err := passwordArgs(e, "passwd", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&revokeApps, "revoke-app-passwords", false, "also revoke all the account's app passwords (a lost phone, a leaked password)")
	})
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
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
	})
}

func userRemove(e *env, args []string) error {
	dir, addr, _, err := userArgs(e, "remove", args, 1, nil)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).RemoveAccount(context.Background(), addr); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed user %s and all its mail\n", addr)
		return nil
	})
}

func userAdmin(e *env, args []string) error {
	dir, addr, pos, err := userArgs(e, "admin", args, 2, nil)
	if err != nil {
		return err
	}
	if pos[1] != "on" && pos[1] != "off" {
		return usagef("user admin EMAIL on|off: got %q", pos[1])
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).SetAdmin(context.Background(), addr, pos[1] == "on"); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: admin %s\n", addr, pos[1])
		return nil
	})
}

func userDisable(e *env, args []string) error { return userSetDisabled(e, "disable", args) }
func userEnable(e *env, args []string) error  { return userSetDisabled(e, "enable", args) }

// userSetDisabled is 'user disable|enable EMAIL'.
func userSetDisabled(e *env, sub string, args []string) error {
	dir, a, pos, err := userArgs(e, sub, args, -1, nil)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user %s takes 1 argument (EMAIL), got %d", sub, len(pos))
	}
	if a, err = delivery.ParseAddress(pos[0]); err != nil {
		return usagef("%v", err)
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).SetAccountDisabled(context.Background(), a, sub == "disable"); err != nil {
			return err
		}
		if sub == "disable" {
			fmt.Fprintf(e.stdout, "disabled %s: no logins, mail to it is refused; its mail is kept ('boxmail user enable %s' to reopen, 'boxmail user remove %s' to delete)\n", a, a, a)
		} else {
			fmt.Fprintf(e.stdout, "enabled %s\n", a)
		}
		return nil
	})
}

// readNewPassword reads a new password and checks its strength.
func readNewPassword(e *env, file string, addr delivery.Address) (string, error) {
	pw, err := readPassword(e, file)
	if err != nil {
		return "", err
	}
	if err := admin.CheckPassword(pw, addr); err != nil {
		return "", err
	}
	return pw, nil
}

// readPasswordFile reads a password from the first line of a file.
func readPasswordFile(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// readPassword reads a new password from a file, from a terminal prompt
// (twice, without echo) or from the first line of stdin.
func readPassword(e *env, file string) (string, error) {
	if file != "" {
		return readPasswordFile(file)
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

// parseSize reads "2G", "500M", "750k", "1048576" or "none" (0).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "NONE" || t == "UNLIMITED" || t == "0" {
		return 0, nil
	}
	mult := int64(1)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	case strings.HasSuffix(t, "T"):
		mult, t = 1<<40, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional K, M, G or T, or none", s)
	}
	return int64(f * float64(mult)), nil
}

// userQuota: 'user quota' lists usage, 'user quota EMAIL' shows one
// account's, 'user quota EMAIL SIZE|none' sets it.
func userQuota(e *env, args []string) error {
	dir, _, pos, err := userArgs(e, "quota", args, -1, nil)
	if err != nil {
		return err
	}
	if len(pos) > 2 {
		return usagef("user quota takes at most EMAIL and SIZE")
	}
	var addr delivery.Address
	var size int64
	if len(pos) >= 1 {
		if addr, err = delivery.ParseAddress(pos[0]); err != nil {
			return usagef("%v", err)
		}
	}
	if len(pos) == 2 {
		if size, err = parseSize(pos[1]); err != nil {
			return usagef("%v", err)
		}
	}
	return withStore(dir, func(st *store.Store) error {
		if len(pos) == 2 {
			if err := newAdmin(st).SetQuota(context.Background(), addr, size); err != nil {
				return err
			}
			if size == 0 {
				fmt.Fprintf(e.stdout, "%s: no quota\n", addr)
			} else {
				fmt.Fprintf(e.stdout, "%s: quota %s\n", addr, store.FormatBytes(size))
			}
			return nil
		}
		return printUsages(e, st, pos, addr)
	})
}

// printUsages prints every account's usage, or the one of addr.
func printUsages(e *env, st *store.Store, pos []string, addr delivery.Address) error {
	us, err := st.Usages(context.Background())
	if err != nil {
		return err
	}
	tw := newTable(e.stdout, "ACCOUNT\tUSED\tQUOTA")
	found := false
	for _, u := range us {
		if len(pos) == 1 && u.Email != addr.String() {
			continue
		}
		found = true
		q := "none"
		if u.Quota > 0 {
			q = fmt.Sprintf("%s (%d%%)", store.FormatBytes(u.Quota), u.Used*100/u.Quota)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Email, store.FormatBytes(u.Used), q)
	}
	if len(pos) == 1 && !found {
		return fmt.Errorf("account %s: %w", addr, store.ErrNotFound)
	}
	return tw.Flush()
}

// userTOTP: 'user totp EMAIL enable|disable'.
func userTOTP(e *env, args []string) error {
	dir, _, pos, err := userArgs(e, "totp", args, -1, nil)
	if err != nil {
		return err
	}
	if len(pos) == 1 && pos[0] == "forget-key" {
		return withBox(dir, func(_ config.Config, st *store.Store) error {
			n, err := newAdmin(st).ForgetTOTPKey(context.Background())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "the box's TOTP sealing key is forgotten: two-step login is off for %d accounts (they set it up again).\n"+
				"The next setup makes a new keys/totp.key: copy it to every other node of this box.\n", n)
			return nil
		})
	}
	if len(pos) != 2 || (pos[1] != "enable" && pos[1] != "disable") {
		return usagef("usage: boxmail user totp EMAIL enable|disable, or boxmail user totp forget-key")
	}
	addr, err := delivery.ParseAddress(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		ctx := context.Background()
		email := addr.String()
		if pos[1] == "disable" {
			if err := newAdmin(st).DisableTOTP(ctx, email); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "two-step login of %s is off: the main password works on the web alone, and on devices again\n", email)
			return nil
		}
		secret := store.NewTOTPSecret()
		if err := newAdmin(st).EnableTOTP(ctx, email, secret, 0); errors.Is(err, store.ErrExists) {
			return fmt.Errorf("two-step login of %s is already on (to get a new code, run 'boxmail user totp %s disable' first)", email, email)
		} else if err != nil {
			return err
		}
		uri := store.TOTPURI(cfg.Hostname, email, secret)
		fmt.Fprintf(e.stdout, "two-step login of %s is on.\n\nScan this with an authenticator app (or type the key %s):\n\n", email, secret)
		if q, err := qrcode.New(uri, qrcode.Medium); err == nil {
			fmt.Fprintln(e.stdout, q.ToSmallString(false))
		}
		fmt.Fprintf(e.stdout, "%s\n\n", uri)
		fmt.Fprintf(e.stdout, "This key is not shown again. The web login now asks for the app's 6-digit code;\n"+
			"mail apps need app passwords ('boxmail user app-password add %s NAME'): the main password no longer works there.\n", email)
		return nil
	})
}

// appPasswordArgs parses 'user app-password SUB EMAIL [NAME]'.
func appPasswordArgs(e *env, sub string, args []string, n int) (dir string, addr delivery.Address, pos []string, err error) {
	if dir, pos, err = parseWith(e, "user app-password "+sub, args, nil); err != nil {
		return "", addr, nil, err
	}
	if len(pos) != n {
		return "", addr, nil, usagef("usage: boxmail user app-password add EMAIL NAME | list EMAIL | revoke EMAIL NAME")
	}
	if addr, err = delivery.ParseAddress(pos[0]); err != nil {
		return "", addr, nil, usagef("%v", err)
	}
	return dir, addr, pos, nil
}

func appPasswordAdd(e *env, args []string) error {
	dir, addr, pos, err := appPasswordArgs(e, "add", args, 2)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		email := addr.String()
		pw, err := newAdmin(st).AddAppPassword(context.Background(), email, pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "app password %q of %s (shown only now; type it as the password in that device's mail app):\n\n    %s\n\n", pos[1], email, pw)
		return nil
	})
}

func appPasswordRevoke(e *env, args []string) error {
	dir, addr, pos, err := appPasswordArgs(e, "revoke", args, 2)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		email := addr.String()
		if err := newAdmin(st).RevokeAppPassword(context.Background(), email, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked app password %q of %s; its device can no longer log in\n", pos[1], email)
		return nil
	})
}

func appPasswordList(e *env, args []string) error {
	dir, addr, _, err := appPasswordArgs(e, "list", args, 1)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		email := addr.String()
		ps, err := st.AppPasswords(context.Background(), email)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			fmt.Fprintf(e.stdout, "%s has no app passwords\n", email)
			return nil
		}
		tw := newTable(e.stdout, "NAME\tCREATED\tLAST USED")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Created.Local().Format("2006-01-02 15:04"), admin.DescribeLogin(p.LastUsed, "never"))
		}
		return tw.Flush()
	})
}

package main

// 'boxmail user totp' and 'boxmail user app-password': the second factor
// of the web login and the per-device passwords (store/auth.go).

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	qrcode "github.com/skip2/go-qrcode"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// cmdUserTOTP: 'user totp EMAIL enable|disable'.
func cmdUserTOTP(e *env, args []string) error {
	var dir string
	fs := newFlags(e, "user totp", &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[1] != "enable" && pos[1] != "disable") {
		return usagef("usage: boxmail user totp EMAIL enable|disable")
	}
	addr, err := delivery.ParseAddress(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer st.Close()
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
}

// cmdUserAppPassword: 'user app-password add EMAIL NAME | list EMAIL |
// revoke EMAIL NAME'.
func cmdUserAppPassword(e *env, args []string) error {
	sub, args, err := subcommand(args, "user app-password", "add", "list", "revoke")
	if err != nil {
		return err
	}
	var dir string
	fs := newFlags(e, "user app-password "+sub, &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	want := map[string]int{"add": 2, "list": 1, "revoke": 2}[sub]
	if len(pos) != want {
		return usagef("usage: boxmail user app-password add EMAIL NAME | list EMAIL | revoke EMAIL NAME")
	}
	addr, err := delivery.ParseAddress(pos[0])
	if err != nil {
		return usagef("%v", err)
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
		pw, err := newAdmin(st).AddAppPassword(ctx, email, pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "app password %q of %s (shown only now; type it as the password in that device's mail app):\n\n    %s\n\n", pos[1], email, pw)
	case "revoke":
		if err := newAdmin(st).RevokeAppPassword(ctx, email, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked app password %q of %s; its device can no longer log in\n", pos[1], email)
	case "list":
		ps, err := st.AppPasswords(ctx, email)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			fmt.Fprintf(e.stdout, "%s has no app passwords\n", email)
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tLAST USED")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Created.Local().Format("2006-01-02 15:04"), admin.DescribeLogin(p.LastUsed, "never"))
		}
		tw.Flush()
	}
	return nil
}

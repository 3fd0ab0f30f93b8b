package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"boxmail/internal/backup"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// runIn runs boxmail in-process and returns its exit status and output.
func runIn(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
	code = run(e, args)
	return code, out.String(), errs.String()
}

// commandLines are the lines of 'boxmail help' naming a command.
func commandLines(help string) map[string]int {
	seen := map[string]int{}
	_, list, _ := strings.Cut(help, "commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			seen[f[0]]++
		}
	}
	return seen
}

func TestHelpListsEveryCommandOnce(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, out, errs := runIn(args...)
		if code != 0 || errs != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		seen := commandLines(out)
		for _, c := range commands() {
			if seen[c.name] != 1 {
				t.Errorf("%v lists %s %d times:\n%s", args, c.name, seen[c.name], out)
			}
		}
		if len(seen) != len(commands()) {
			t.Errorf("%v lists %d commands, the table has %d:\n%s", args, len(seen), len(commands()), out)
		}
	}
	// No arguments: the same list on stderr, exit 2.
	if code, out, errs := runIn(); code != 2 || out != "" || len(commandLines(errs)) != len(commands()) {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// subcommandPaths are the rows a noun's help shows ("app-password add").
func subcommandPaths(prefix string, subs []subcommand) []string {
	var out []string
	for _, s := range subs {
		if s.subs != nil {
			out = append(out, subcommandPaths(prefix+s.name+" ", s.subs())...)
			continue
		}
		out = append(out, prefix+s.name)
	}
	return out
}

func TestEveryNounsHelpListsItsTable(t *testing.T) {
	nouns := 0
	for _, c := range commands() {
		if c.subs == nil {
			continue
		}
		nouns++
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {c.name, "help"}, {"help", c.name}} {
			code, out, errs := runIn(args...)
			if code != 0 || errs != "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, errs)
				continue
			}
			for _, p := range subcommandPaths("", c.subs()) {
				if !strings.Contains(out, "\n  "+p+" ") && !strings.Contains(out, "\n  "+p+"\n") {
					t.Errorf("%v does not list %q:\n%s", args, p, out)
				}
			}
		}
		// No subcommand: the list on stdout, one line on stderr, exit 2.
		code, out, errs := runIn(c.name)
		if code != 2 || !strings.Contains(out, "subcommands:") || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "missing subcommand") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", c.name, code, out, errs)
		}
	}
	if nouns < 10 {
		t.Errorf("only %d nouns in the table", nouns)
	}
}

func TestUnknownUserSubcommandSuggestsFromTheWholeTable(t *testing.T) {
	for typo, want := range map[string]string{
		"qouta": "quota", "totpp": "totp", "app-pasword": "app-password", "disabel": "disable", "enabl": "enable",
		"ad": "add", "lst": "list", "passw": "passwd", "remvoe": "remove",
	} {
		code, out, errs := runIn("user", typo)
		if code != 2 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "unknown user subcommand") || !strings.Contains(errs, "did you mean "+want+"?") {
			t.Errorf("user %s: exit %d, stderr %q; want a suggestion of %s", typo, code, errs, want)
		}
		for _, s := range []string{"quota", "totp", "app-password add", "disable", "enable"} {
			if !strings.Contains(out, "  "+s+" ") {
				t.Errorf("user %s: the list on stdout lacks %q:\n%s", typo, s, out)
			}
		}
	}
	// Nothing close: the error line names every subcommand instead.
	code, _, errs := runIn("user", "delete")
	if code != 2 || strings.Contains(errs, "did you mean") || !strings.Contains(errs, "app-password, disable, enable") {
		t.Errorf("user delete: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runIn("usr"); code != 2 || !strings.Contains(errs, `unknown command "usr" (did you mean user?`) {
		t.Errorf("usr: exit %d, stderr %q", code, errs)
	}
}

func TestNounHelpExitsZero(t *testing.T) {
	for _, noun := range []string{"user", "forward"} {
		code, out, errs := runIn(noun, "-h")
		if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: boxmail "+noun+" SUBCOMMAND") {
			t.Errorf("%s -h: exit %d, stdout %q, stderr %q", noun, code, out, errs)
		}
	}
	code, out, errs := runIn("user", "app-password", "-h")
	if code != 0 || !strings.Contains(out, "revoke EMAIL NAME") || errs != "" {
		t.Errorf("user app-password -h: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestSubcommandHelpPrintsItsSynopsisAndFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"user", "add", "-h"}, []string{"usage: boxmail user add EMAIL", "-password-file", "-admin", "-dir"}},
		{[]string{"forward", "add", "--help"}, []string{"usage: boxmail forward add EMAIL --to", "-no-keep"}},
		{[]string{"user", "app-password", "add", "-h"}, []string{"usage: boxmail user app-password add EMAIL NAME", "-dir"}},
		{[]string{"status", "-h"}, []string{"usage: boxmail status [DOMAIN]", "-no-ports"}},
	} {
		code, _, errs := runIn(c.args...)
		if code != 0 {
			t.Errorf("%v: exit %d", c.args, code)
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, errs)
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"add", "list", "remove", "app-password"}
	for in, want := range map[string]string{"rmove": "remove", "app": "app-password", "xyzzy": "", "lits": "list", "a": "add", "x": ""} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every row's -h finds its own synopsis: the flag set's name matches the
// table path.
func TestEveryRowsFlagHelpShowsItsSynopsis(t *testing.T) {
	var paths [][]string
	for _, c := range commands() {
		switch {
		case c.name == "help" || c.name == "version":
		case c.subs == nil:
			paths = append(paths, []string{c.name})
		default:
			for _, p := range subcommandPaths("", c.subs()) {
				paths = append(paths, append([]string{c.name}, strings.Fields(p)...))
			}
		}
	}
	for _, p := range paths {
		code, _, errs := runIn(append(p, "-h")...)
		if want := "usage: boxmail " + strings.Join(p, " "); code != 0 || !strings.HasPrefix(errs, want) || !strings.Contains(errs, "-dir") {
			t.Errorf("%v -h: exit %d, stderr %q, want it to start with %q", p, code, errs, want)
		}
	}
}

func TestInitTurnsOnACMEOnlyForAPublicHostname(t *testing.T) {
	for h, want := range map[string]bool{
		"box.family.net": true, "mail.example.org": false, "mail.example.test": false, "box.lan": false,
		"localhost": false, "box": false, "192.0.2.7": false, "mx.home.arpa": false, "Box.Family.NET.": true,
	} {
		if got := initConfig(h).ACME.On; got != want {
			t.Errorf("%s: acme %v, want %v", h, got, want)
		}
	}
}

func TestStatusWarnsUntilABackupIsVerifiedAndWhenItGrowsOld(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	level := func() (dnsrecords.Level, string) {
		r := backupCheck(ctx, dir, st, "mail.example.test", now)
		return r.Level, r.Found
	}
	if l, f := level(); l != dnsrecords.Warn || !strings.Contains(f, "no backup is set up") {
		t.Errorf("not set up: %v %q", l, f)
	}
	if _, _, err := backup.Init(ctx, st, dir, t.TempDir(), false); err != nil {
		t.Fatal(err)
	}
	if l, f := level(); l != dnsrecords.Warn || !strings.Contains(f, "no verified backup") {
		t.Errorf("set up, never run: %v %q", l, f)
	}
	if err := backup.RecordVerify(ctx, st, dir, now.Add(-time.Hour), "presence", nil); err != nil {
		t.Fatal(err)
	}
	if l, f := level(); l != dnsrecords.OK {
		t.Errorf("verified an hour ago: %v %q", l, f)
	}
	now = now.Add(3 * 24 * time.Hour)
	if l, f := level(); l != dnsrecords.Warn || !strings.Contains(f, "newest verified backup is from") {
		t.Errorf("three days later: %v %q", l, f)
	}
	if err := backup.RecordRun(ctx, st, dir, time.Date(2026, 12, 1, 3, 30, 0, 0, time.UTC), "", errors.New("target /mnt/usb: no space left on device")); err != nil {
		t.Fatal(err)
	}
	if l, f := level(); l != dnsrecords.Warn || !strings.Contains(f, "the last run (2026-12-01T03:30:00Z) failed: target /mnt/usb: no space left") {
		t.Errorf("a failed run: %v %q", l, f)
	}
}

// Command boxmail is a family's or a small organisation's whole mail
// service in one program. See README.md; 'boxmail help' lists the
// commands (generated from the tables in this file and the noun files).
//
// This package is flags and wiring only: each noun (domain, user, alias,
// ...) has one file with its subcommand table and handlers that parse
// arguments, call the package that owns the behaviour (admin, certs,
// dnsrecords, migrate, ...) and print; serve.go builds the servers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"boxmail/internal/config"
)

// usageError is a bad command line: printed with a hint, exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// command is a top-level command: a verb with its own flags (run), or a
// noun with a subcommand table (subs).
type command struct {
	name    string
	args    string // synopsis of a verb's arguments and main flags
	summary string // one line
	run     func(*env, []string) error
	subs    func() []subcommand
}

// subcommand is one row of a noun's table. A row with subs is itself a
// noun ('user app-password add').
type subcommand struct {
	name    string
	args    string // synopsis of its arguments and main flags
	summary string // one line
	run     func(*env, []string) error
	subs    func() []subcommand
}

// commands is the top-level table: 'boxmail help' and the dispatch both
// read it.
func commands() []command {
	return []command{
		{name: "quickstart", args: "[--domain D] [--resolver IP] [--store-url postgres://...]", summary: "create a demo box in ./boxmail-data (if needed) and serve it on loopback", run: cmdQuickstart},
		{name: "init", args: "--hostname H --domain D --admin EMAIL [--store-url postgres://...]", summary: "create a production data dir", run: cmdInit},
		{name: "install", args: "[--hostname H --domain D --admin EMAIL] [--dir /var/lib/boxmail] [--dry-run] [--root DIR]", summary: "install a production box on this Debian/Ubuntu server (system user, systemd unit, init, start)", run: cmdInstall},
		{name: "serve", args: "[--PROTO-port N ...]", summary: "serve the data dir", run: cmdServe},
		{name: "domain", summary: "hosted domains", subs: domainCommands},
		{name: "user", summary: "accounts, passwords, quotas, two-step login, app passwords", subs: userCommands},
		{name: "alias", summary: "addresses that deliver to other addresses", subs: aliasCommands},
		{name: "queue", summary: "the outbound queue", subs: queueCommands},
		{name: "forward", summary: "forwarding rules (Sieve rules the user can edit)", subs: forwardCommands},
		{name: "dav", summary: "contacts and calendars: shared address books and calendars", subs: davCommands},
		{name: "vacation", args: "EMAIL --subject S --body-file F [--from DATE --until DATE] [--days N] | EMAIL --off | EMAIL", summary: "set, remove or show an account's vacation reply", run: cmdVacation},
		{name: "dkim", summary: "DKIM keys: the records to publish, rotation", subs: dkimCommands},
		{name: "dns", summary: "the box's DNS records and custom records", subs: dnsCommands},
		{name: "status", args: "[DOMAIN] [--no-ports]", summary: "check DNS, certificate and ports; ok/warn/fail with what to change", run: cmdStatus},
		{name: "spf", summary: "the SPF switch-over of a migration", subs: spfCommands},
		{name: "dmarc", summary: "the DMARC and TLS reports other mail systems send about the box's domains, and those the box sends", subs: dmarcCommands},
		{name: "security", summary: "clients blocked for failed logins", subs: securityCommands},
		{name: "spam", summary: "the spam filter: check a message, train, model stats", subs: spamCommands},
		{name: "tls", summary: "the TLS certificate", subs: tlsCommands},
		{name: "migrate", summary: "import mail from the old provider; the switch-over checklist", subs: migrateCommands},
		{name: "export", args: "EMAIL --mbox DIR | --maildir DIR", summary: "write an account's mail out as mbox files or a Maildir (the way back out)", run: cmdExport},
		{name: "backup", summary: "encrypted incremental backups: set up, run, list, verify", subs: backupCommands},
		{name: "store", summary: "the box's store: copy it between SQLite and PostgreSQL", subs: storeCommands},
		{name: "restore", args: "--from TARGET --identity FILE --dir DIR [--snapshot ID] [--user EMAIL [--mailbox NAME]]", summary: "fill an empty data dir from a backup, checked; or put one account's missing mail back into a live box", run: cmdRestore},
		{name: "version", summary: "print the version", run: cmdVersion},
		{name: "help", args: "[COMMAND]", summary: "this list, or a command's subcommands", run: cmdHelp},
	}
}

const version = "0.1.0-dev"

func cmdVersion(e *env, _ []string) error {
	fmt.Fprintln(e.stdout, "boxmail", version)
	return nil
}

// env is what a command reads and writes, so tests can run commands
// in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(e, os.Args[1:]))
}

func run(e *env, args []string) int {
	if len(args) == 0 {
		writeUsage(e.stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" {
		name = "help"
	}
	var cmd *command
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
		if c.name == name {
			cmd = &c
		}
	}
	if cmd == nil {
		hint := ""
		if s := suggest(name, names); s != "" {
			hint = "did you mean " + s + "? "
		}
		fmt.Fprintf(e.stderr, "boxmail: unknown command %q (%srun 'boxmail help' for the list)\n", name, hint)
		return 2
	}
	var err error
	if cmd.subs != nil {
		err = runNoun(e, name, cmd.subs(), args[1:])
	} else {
		err = cmd.run(e, args[1:])
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "boxmail %s: %s\n", name, ue.msg)
		return 2
	default:
		fmt.Fprintf(e.stderr, "boxmail %s: %s\n", name, oneLine(err.Error()))
		return 1
	}
}

// runNoun runs a subcommand of a noun's table. No subcommand, or one
// not in the table, prints the table on stdout and is a usage error (one
// line on stderr); -h, --help and help print it and succeed.
func runNoun(e *env, noun string, subs []subcommand, args []string) error {
	var names []string
	for _, s := range subs {
		names = append(names, s.name)
	}
	if len(args) == 0 {
		writeNounHelp(e.stdout, noun, subs)
		return usagef("missing subcommand: %s", strings.Join(names, ", "))
	}
	switch args[0] {
	case "-h", "--help", "help":
		writeNounHelp(e.stdout, noun, subs)
		return nil
	}
	for _, s := range subs {
		if s.name != args[0] {
			continue
		}
		if s.subs != nil {
			return runNoun(e, noun+" "+s.name, s.subs(), args[1:])
		}
		return s.run(e, args[1:])
	}
	writeNounHelp(e.stdout, noun, subs)
	if s := suggest(args[0], names); s != "" {
		return usagef("unknown %s subcommand %q (did you mean %s?)", noun, args[0], s)
	}
	return usagef("unknown %s subcommand %q (want %s)", noun, args[0], strings.Join(names, ", "))
}

// cmdHelp prints the command list, or a noun's subcommands.
func cmdHelp(e *env, args []string) error {
	if len(args) == 0 {
		writeUsage(e.stdout)
		return nil
	}
	if len(args) > 1 {
		return usagef("help takes at most one COMMAND")
	}
	for _, c := range commands() {
		switch {
		case c.name != args[0]:
		case c.subs != nil:
			writeNounHelp(e.stdout, c.name, c.subs())
			return nil
		default:
			fmt.Fprintf(e.stdout, "usage: boxmail %s\n  %s\nRun 'boxmail %s -h' for its flags.\n", strings.TrimSpace(c.name+" "+c.args), c.summary, c.name)
			return nil
		}
	}
	return usagef("no command %q (run 'boxmail help' for the list)", args[0])
}

const dirNote = "Every command takes --dir DIR (default $BOXMAIL_DIR, else ./boxmail-data)."

// writeUsage prints every command once, from the table.
func writeUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: boxmail COMMAND [flags]\n\ncommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		if c.subs == nil {
			fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
			continue
		}
		var names []string
		for _, s := range c.subs() {
			names = append(names, s.name)
		}
		fmt.Fprintf(tw, "  %s\t%s (%s)\n", c.name, c.summary, strings.Join(names, ", "))
	}
	_ = tw.Flush() // a failed write to the terminal has no one to tell
	fmt.Fprintf(w, "\n%s\nRun 'boxmail help COMMAND' for a command's subcommands, 'boxmail COMMAND [SUBCOMMAND] -h' for its flags.\n", dirNote)
}

// writeNounHelp prints a noun's subcommands, from its table.
func writeNounHelp(w io.Writer, noun string, subs []subcommand) {
	fmt.Fprintf(w, "usage: boxmail %s SUBCOMMAND [flags]\n\nsubcommands:\n", noun)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var rows func(prefix string, subs []subcommand)
	rows = func(prefix string, subs []subcommand) {
		for _, s := range subs {
			if s.subs != nil {
				rows(prefix+s.name+" ", s.subs())
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(prefix+s.name+" "+s.args), s.summary)
		}
	}
	rows("", subs)
	_ = tw.Flush() // a failed write to the terminal has no one to tell
	fmt.Fprintf(w, "\n%s\nRun 'boxmail %s SUBCOMMAND -h' for its flags.\n", dirNote, noun)
}

// synopsis finds the table row of a flag set's name ("boxmail user add")
// for its -h text.
func synopsis(name string) (args, summary string, ok bool) {
	path := strings.Fields(strings.TrimPrefix(name, "boxmail "))
	if len(path) == 0 {
		return "", "", false
	}
	for _, c := range commands() {
		if c.name != path[0] {
			continue
		}
		if c.subs == nil {
			return c.args, c.summary, len(path) == 1
		}
		subs := c.subs()
		for _, p := range path[1:] {
			var found *subcommand
			for _, s := range subs {
				if s.name == p {
					found = &s
				}
			}
			switch {
			case found == nil:
				return "", "", false
			case found.subs != nil:
				subs = found.subs()
			default:
				return found.args, found.summary, p == path[len(path)-1]
			}
		}
	}
	return "", "", false
}

// suggest returns the name closest to an unknown one: a prefix of it or
// it of a name, or at most two edits away; "" when none is close.
func suggest(name string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := config.EditDistance(name, n)
		if len(name) >= 2 && (strings.HasPrefix(n, name) || strings.HasPrefix(name, n)) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// newTable is a tab-aligned table on w, its header line written.
func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// newFlags returns a FlagSet with the common --dir flag.
func newFlags(e *env, name string, dir *string) *flag.FlagSet {
	fs := flag.NewFlagSet("boxmail "+name, flag.ContinueOnError)
	// Errors come back from Parse and are printed as one line by run;
	// the flag list is printed only for -h.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	def := e.getenv("BOXMAIL_DIR")
	if def == "" {
		def = "boxmail-data"
	}
	fs.StringVar(dir, "dir", def, "data directory (env BOXMAIL_DIR)")
	return fs
}

// parseWith parses the args of the command name: --dir, plus the flags
// that flags (if not nil) adds.
func parseWith(e *env, name string, args []string, flags func(*flag.FlagSet)) (dir string, pos []string, err error) {
	fs := newFlags(e, name, &dir)
	if flags != nil {
		flags(fs)
	}
	if pos, err = parseFlags(e, fs, args); err != nil {
		return "", nil, err
	}
	return dir, pos, nil
}

// parseArgs is parseWith for a command of exactly n arguments.
func parseArgs(e *env, name string, args []string, n int, flags func(*flag.FlagSet)) (dir string, pos []string, err error) {
	if dir, pos, err = parseWith(e, name, args, flags); err != nil {
		return "", nil, err
	}
	if err := wantArgs(name, pos, n); err != nil {
		return "", nil, err
	}
	return dir, pos, nil
}

// wantArgs checks the number of positional arguments of a subcommand.
func wantArgs(cmd string, pos []string, n int) error {
	if len(pos) != n {
		return usagef("%s takes %d argument(s), got %d", cmd, n, len(pos))
	}
	return nil
}

// noArgs refuses the positional arguments of a command that takes none.
func noArgs(pos []string) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	return nil
}

// atMostOneDomain checks the optional DOMAIN argument of a command.
func atMostOneDomain(cmd string, pos []string) error {
	if len(pos) > 1 {
		return usagef("%s takes at most one DOMAIN", cmd)
	}
	return nil
}

// parseFlags parses args allowing flags after positional arguments
// ("user add me@x --password-file f"), and returns the positionals. -h
// prints the command's synopsis and flags.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printFlags(e, fs)
				return nil, err
			}
			return nil, usageError{err.Error() + " (see -h)"}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func printFlags(e *env, fs *flag.FlagSet) {
	if args, summary, ok := synopsis(fs.Name()); ok {
		fmt.Fprintf(e.stderr, "usage: %s\n  %s\n", strings.TrimSpace(fs.Name()+" "+args), summary)
	}
	fmt.Fprintf(e.stderr, "flags of %s:\n", fs.Name())
	fs.SetOutput(e.stderr)
	fs.PrintDefaults()
}

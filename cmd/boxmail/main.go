// Command boxmail is a family's or a small organisation's whole mail
// service in one program. See README.md.
//
// Usage:
//
//	boxmail quickstart [--dir DIR] [--domain D]     try it on loopback high ports
//	boxmail init --dir DIR --hostname H --domain D --admin EMAIL
//	boxmail serve --dir DIR
//	boxmail domain add|list|remove ...
//	boxmail user add|list|passwd|remove|admin ...; user totp EMAIL enable|disable; user app-password add|list|revoke
//	boxmail alias add|list|set|remove ...
//	boxmail user disable|enable EMAIL
//	boxmail queue list|remove ...
//	boxmail forward add|list|disable|enable|remove ...
//	boxmail vacation EMAIL ...
//	boxmail dkim show DOMAIN | rotate DOMAIN | activate DOMAIN SELECTOR | remove DOMAIN SELECTOR
//	boxmail dns records [DOMAIN] [--format table|zone|json] | set NAME TYPE VALUE | unset NAME TYPE [VALUE]
//	boxmail status [DOMAIN]
//	boxmail spf include EXISTING_RECORD [--box HOST] | harden DOMAIN
//	boxmail security blocked | unblock IP
//	boxmail tls show | install --cert F --key F
//	boxmail migrate import EMAIL --from URL --user LOGIN | --mbox F | --maildir D; migrate status [DOMAIN]
//
// Every command takes --dir DIR (default $BOXMAIL_DIR, else ./boxmail-data).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usageError is a bad command line: printed with a hint, exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

const usage = `usage: boxmail COMMAND [flags]

commands:
  quickstart   create a demo box in ./boxmail-data (if needed) and serve it on loopback
  init         create a production data dir: --hostname H --domain D --admin EMAIL
  serve        serve the data dir
  domain       add|list|remove hosted domains
  user         add|list|passwd|remove|admin accounts; totp EMAIL enable|disable (web login's second factor);
               app-password add EMAIL NAME | list EMAIL | revoke EMAIL NAME (per-device passwords)
  alias        add|list|set|remove aliases (set ALIAS TARGETS [--permit A]: change one in place)
  user         disable|enable EMAIL: close an account (no logins, mail to it refused) but keep its mail
  queue        list|remove outbound queue entries
  forward      add EMAIL --to OLD_ADDRESS [--no-keep] [--name N], list [EMAIL], disable|enable|remove EMAIL [NAME]:
               forward (and keep) as a Sieve rule the user can edit in any ManageSieve client
  vacation     EMAIL --subject S --body-file F [--from DATE --until DATE] [--days N] | EMAIL --off
  dkim         show DOMAIN: the DKIM records to publish; rotate DOMAIN: a new key under a new
               selector; activate DOMAIN SELECTOR: sign with it once published; remove DOMAIN SELECTOR
  dns          records [DOMAIN] [--format table|zone|json], set NAME TYPE VALUE, unset NAME TYPE [VALUE]
  status       [DOMAIN]: check DNS, certificate and ports; ok/warn/fail with what to change
  spf          include EXISTING_RECORD [--box HOST], harden DOMAIN: the SPF switch-over
  security     blocked: clients blocked for failed logins; unblock IP: lift a block
  tls          show: the certificate in use; install --cert F --key F: check and install a new pair
  migrate      import EMAIL --from imaps://OLD --user LOGIN | --mbox F | --maildir D; import --all --plan CSV;
               status [DOMAIN] [--json]: the switch-over checklist
  version      print the version

Every command takes --dir DIR (default $BOXMAIL_DIR, else ./boxmail-data).
Run 'boxmail COMMAND -h' for a command's flags.
`

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
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	cmds := map[string]func(*env, []string) error{
		"quickstart": cmdQuickstart,
		"init":       cmdInit,
		"serve":      cmdServe,
		"domain":     cmdDomain,
		"user":       cmdUserMore,  // adminmore.go: disable, enable; else cmdUser
		"alias":      cmdAliasMore, // adminmore.go: set; else cmdAlias
		"queue":      cmdQueue,
		"forward":    cmdForward,
		"vacation":   cmdVacation,
		"dkim":       cmdDKIM,
		"dns":        cmdDNS,
		"status":     cmdStatus,
		"spf":        cmdSPF,
		"tls":        cmdTLS,
		"security":   cmdSecurity,
		"migrate":    cmdMigrate,
		"version": func(e *env, _ []string) error {
			fmt.Fprintln(e.stdout, "boxmail", version)
			return nil
		},
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	f, ok := cmds[name]
	if !ok {
		fmt.Fprintf(e.stderr, "boxmail: unknown command %q (run 'boxmail help' for the list)\n", name)
		return 2
	}
	err := f(e, args[1:])
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

const version = "0.1.0-dev"

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

// parseFlags parses args allowing flags after positional arguments
// ("user add me@x --password-file f"), and returns the positionals.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(e.stderr, "usage of %s:\n", fs.Name())
				fs.SetOutput(e.stderr)
				fs.PrintDefaults()
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

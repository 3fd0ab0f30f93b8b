package main

// 'boxmail migrate': the migration assistant. 'import' copies an old
// provider's mail into the box (migrate owns the copying and checking);
// 'status' shows where each domain stands in the switch-over checklist
// (admin.Service.Migration measures it).

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/dav"
	"boxmail/internal/migrate"
	"boxmail/internal/store"
)

func migrateCommands() []subcommand {
	return []subcommand{
		{name: "import", args: "EMAIL --from imaps://OLD --user LOGIN | --mbox F | --maildir D | --vcf F --ics F | --carddav URL --caldav URL; --all --plan CSV", summary: "copy an old provider's mail into the box, checked", run: migrateImport},
		{name: "status", args: "[DOMAIN] [--json]", summary: "the switch-over checklist", run: migrateStatus},
		{name: "export", args: "EMAIL --to imaps://HOST --user LOGIN [--password-file F]", summary: "copy the box's mail back to another IMAP server (resumable)", run: migrateExport},
	}
}

// importJob is one user's import: from the command line or a plan line.
type importJob struct {
	email                     string
	from, user, passwordFile  string
	mbox, maildir, mboxFolder string
	vcf, ics                  string // contacts and calendars (migrate_dav.go)
	carddav, caldav           string // the same from a live old server
	davTimeout                time.Duration
	davMaxObjects             int
}

// mapFlags collects --map OLD=NEW (not split at commas: folder names
// may hold them).
type mapFlags []string

func (l *mapFlags) String() string     { return strings.Join(*l, " ") }
func (l *mapFlags) Set(s string) error { *l = append(*l, s); return nil }

// importFlags are the flags of 'migrate import'.
type importFlags struct {
	folders, since, plan  string
	job                   importJob
	insecure, all, asJSON bool
	noTrain               bool
	conns, batch          int
	maps                  mapFlags
}

func (f *importFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.job.from, "from", "", "old IMAP server: imaps://host[:993] or imap://host[:143] (STARTTLS)")
	fs.StringVar(&f.job.user, "user", "", "login at the old server (default: EMAIL)")
	fs.StringVar(&f.job.passwordFile, "password-file", "", "file whose first line is the old password (default: read from the terminal or stdin)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plaintext IMAP (or http:// DAV) and unverified certificates")
	fs.StringVar(&f.job.mbox, "mbox", "", "import an mbox file or a directory of them (Thunderbird) instead")
	fs.StringVar(&f.job.mboxFolder, "folder", "INBOX", "with --mbox FILE: the folder it goes to")
	fs.StringVar(&f.job.maildir, "maildir", "", "import a Maildir (Dovecot/Mail-in-a-Box backup) instead")
	fs.StringVar(&f.job.vcf, "vcf", "", "import contacts from a .vcf file (an address book export) instead")
	fs.StringVar(&f.job.ics, "ics", "", "import a calendar from an .ics file instead (with --vcf: both)")
	fs.StringVar(&f.job.carddav, "carddav", "", "copy the address books of a live old CardDAV server (http(s) URL: the server, a home set or one address book) instead")
	fs.StringVar(&f.job.caldav, "caldav", "", "copy the calendars of a live old CalDAV server instead (with --carddav: both)")
	fs.DurationVar(&f.job.davTimeout, "dav-timeout", dav.DefaultRemoteTimeout, "with --carddav/--caldav: stop the copy after this long (run it again to go on)")
	fs.IntVar(&f.job.davMaxObjects, "max-objects", dav.DefaultRemoteMaxObjects, "with --carddav/--caldav: refuse more contacts and events than this")
	fs.StringVar(&f.folders, "folders", "all", "old folders to import: all, or a comma-separated list")
	fs.StringVar(&f.since, "since", "", "only messages from this date on (YYYY-MM-DD)")
	fs.Var(&f.maps, "map", "OLD=NEW: put old folder OLD into box folder NEW (repeatable)")
	fs.IntVar(&f.conns, "connections", 2, "parallel connections to the old server")
	fs.IntVar(&f.batch, "batch", 100, "messages per FETCH and per commit")
	fs.BoolVar(&f.all, "all", false, "import every user of --plan")
	fs.StringVar(&f.plan, "plan", "", "CSV file: box address, old login, password file, old IMAP URL (one user a line)")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&f.noTrain, "no-train", false, "do not train the spam filter from the old Junk, Sent and read INBOX mail")
}

// options turns the folder, date and map flags into migrate.Options.
func (f *importFlags) options() (migrate.Options, error) {
	opts := migrate.Options{Parallel: f.conns, BatchCount: f.batch, Map: map[string]string{}, NoTrain: f.noTrain}
	if f.folders != "" && f.folders != "all" {
		for _, x := range strings.Split(f.folders, ",") {
			if x = strings.TrimSpace(x); x != "" {
				opts.Folders = append(opts.Folders, x)
			}
		}
	}
	if f.since != "" {
		t, err := time.ParseInLocation("2006-01-02", f.since, time.Local)
		if err != nil {
			return opts, usagef("--since %q: want a date like 2024-01-31", f.since)
		}
		opts.Since = t
	}
	for _, m := range f.maps {
		old, nw, ok := strings.Cut(m, "=")
		if !ok || old == "" || nw == "" {
			return opts, usagef("--map %q: want OLD=NEW", m)
		}
		opts.Map[old] = nw
	}
	return opts, nil
}

// jobs are the imports to run: every line of --plan, or the one of the
// command line.
func (f *importFlags) jobs(pos []string) ([]importJob, error) {
	switch {
	case f.all:
		if f.plan == "" || len(pos) > 0 {
			return nil, usagef("usage: migrate import --all --plan FILE")
		}
		return readPlan(f.plan)
	case len(pos) != 1:
		return nil, usagef("usage: migrate import EMAIL --from imaps://HOST --user LOGIN [--password-file F] | --mbox FILE | --maildir DIR | --vcf FILE --ics FILE | --carddav URL --caldav URL")
	}
	job := f.job
	job.email = pos[0]
	n := 0
	for _, s := range []string{job.from, job.mbox, job.maildir, job.vcf + job.ics + job.carddav + job.caldav} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, usagef("give exactly one of --from URL, --mbox FILE, --maildir DIR, --vcf FILE/--ics FILE/--carddav URL/--caldav URL")
	}
	return []importJob{job}, nil
}

func migrateImport(e *env, args []string) error {
	var f importFlags
	dir, pos, err := parseWith(e, "migrate import", args, f.register)
	if err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	jobs, err := f.jobs(pos)
	if err != nil {
		return err
	}
	if j := jobs[0]; len(jobs) == 1 && j.vcf+j.ics+j.carddav+j.caldav != "" {
		return withBox(dir, func(_ config.Config, st *store.Store) error { return importContacts(e, st, j, f.insecure, f.asJSON) })
	}
	return withBox(dir, func(_ config.Config, st *store.Store) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		opts.Store = st
		opts.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return runImports(ctx, e, st, opts, jobs, f.insecure, f.asJSON)
	})
}

// runImports runs the jobs one after the other; one failed job of a
// plan does not stop the others.
func runImports(ctx context.Context, e *env, st *store.Store, opts migrate.Options, jobs []importJob, insecure, asJSON bool) error {
	var reports []jsonReport
	failed := 0
	for _, j := range jobs {
		rep, err := importOne(ctx, e, st, opts, j, insecure, asJSON)
		if err != nil {
			if len(jobs) == 1 {
				return err
			}
			fmt.Fprintf(e.stderr, "boxmail migrate import: %s: %s\n", j.email, oneLine(err.Error()))
			failed++
			reports = append(reports, jsonReport{Account: j.email, Error: err.Error()})
			continue
		}
		if !rep.Done() {
			failed++
		}
		reports = append(reports, jsonReport{Account: j.email, Report: rep, Done: rep.Done(), Totals: rep.Totals()})
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d imports not complete; run the same command again to retry what failed", failed, len(jobs))
	}
	return nil
}

type jsonReport struct {
	Account string               `json:"account"`
	Done    bool                 `json:"done"`
	Error   string               `json:"error,omitempty"`
	Totals  migrate.FolderReport `json:"totals"`
	Report  *migrate.Report      `json:"report,omitempty"`
}

// readPlan reads the CSV of 'migrate import --all'.
func readPlan(file string) ([]importJob, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	defer func() { _ = f.Close() }() // read only: a failed close loses nothing
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var out []importJob
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", file, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != 4 {
			return nil, fmt.Errorf("plan %s line %d: want 4 fields (box address, old login, password file, old IMAP URL), got %d", file, line, len(rec))
		}
		if strings.EqualFold(rec[0], "box address") || strings.EqualFold(rec[0], "email") {
			continue // a header line
		}
		out = append(out, importJob{email: rec[0], user: rec[1], passwordFile: rec[2], from: rec[3]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plan %s: no users in it", file)
	}
	return out, nil
}

func importOne(ctx context.Context, e *env, st *store.Store, opts migrate.Options, j importJob, insecure, quiet bool) (*migrate.Report, error) {
	acc, err := st.AccountByEmail(ctx, strings.ToLower(j.email))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no account %s on the box: create it first with 'boxmail user add %s'", j.email, j.email)
	} else if err != nil {
		return nil, err
	}
	opts.AccountID = acc.ID
	var src migrate.Source
	switch {
	case j.mbox != "":
		src, err = migrate.NewMboxSource(j.mbox, j.mboxFolder)
	case j.maildir != "":
		src, err = migrate.NewMaildirSource(j.maildir)
	default:
		user := j.user
		if user == "" {
			user = acc.Email
		}
		var pw string
		pw, err = readOldPassword(e, j.passwordFile, user)
		if err != nil {
			return nil, err
		}
		src, err = migrate.NewIMAPSource(ctx, migrate.IMAPOptions{URL: j.from, User: user, Password: pw, Insecure: insecure})
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		// The mail is in the box (or the report says what is not): a
		// source that does not close cleanly changes nothing of that.
		if err := src.Close(); err != nil {
			opts.Logger.Warn("closing the import source", "source", src.Name(), "err", err)
		}
	}()
	out := e.stdout
	if quiet {
		out = io.Discard
	}
	fmt.Fprintf(out, "importing %s into %s\n", src.Name(), acc.Email)
	opts.Progress = newProgress(e)
	rep, err := migrate.Run(ctx, opts, src)
	if rep != nil {
		finishProgress(e)
		printReport(out, rep)
	}
	return rep, err
}

// readOldPassword reads the old provider's password from a file, the
// terminal (without echo) or the first line of stdin.
func readOldPassword(e *env, file, user string) (string, error) {
	if file != "" {
		return readPasswordFile(file)
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "Password of %s at the old provider: ", user)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		return string(p), err
	}
	data, err := io.ReadAll(io.LimitReader(e.stdin, 4096))
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimRight(line, "\r"); line == "" {
		return "", usagef("no password: give --password-file F or the password on stdin")
	}
	return line, nil
}

func printReport(w io.Writer, rep *migrate.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "folder on the old side\tin the box\ton old side\tcopied\talready present\tskipped\tfailed\tverified\t")
	for _, f := range rep.Folders {
		if f.SkipReason != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\tnot imported: %s\t\n", f.Old, f.SkipReason)
			continue
		}
		v := "yes"
		switch {
		case f.Error != "":
			v = "NO: " + f.Error
		case !f.Verified:
			v = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", f.Old, f.New, f.OnOldSide, f.Copied, f.Present, f.Skipped, f.Failed, v)
	}
	t := rep.Totals()
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%d\t\t\n", t.OnOldSide, t.Copied, t.Present, t.Skipped, t.Failed)
	_ = tw.Flush() // output to the terminal, like fmt.Fprint (.errcheck-excludes)
	for _, f := range rep.Folders {
		for _, fl := range f.Failures {
			fmt.Fprintf(w, "failed: %s message %s: %s\n", f.Old, fl.Key, fl.Reason)
		}
	}
	if rep.IgnoredTotal > 0 {
		fmt.Fprintf(w, "ignored %d entries that are not regular files or directories (a link is never followed, a FIFO or device never read):\n", rep.IgnoredTotal)
		for _, ig := range rep.Ignored {
			fmt.Fprintf(w, "ignored: %s: %s\n", ig.Path, ig.Reason)
		}
		if more := rep.IgnoredTotal - len(rep.Ignored); more > 0 {
			fmt.Fprintf(w, "ignored: and %d more\n", more)
		}
	}
	secs := rep.Elapsed.Seconds()
	rate := ""
	if secs > 0 {
		rate = fmt.Sprintf(", %.0f messages/s, %.1f MB/s", float64(t.Copied+t.Present)/secs, float64(t.Bytes)/1e6/secs)
	}
	state := "done: every message of the old side is in the box (counts, sizes and SHA-256 checked)"
	if !rep.Done() {
		state = "NOT done: run the same command again to retry what failed"
	}
	fmt.Fprintf(w, "%s (%.1fs%s)\n", state, secs, rate)
}

// progress reporting: a bar on a terminal, a line every few seconds
// otherwise.
func newProgress(e *env) func(migrate.Progress) {
	f, ok := e.stderr.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	var last time.Time
	return func(p migrate.Progress) {
		now := time.Now()
		if now.Sub(last) < 200*time.Millisecond || (!tty && now.Sub(last) < 5*time.Second) {
			return
		}
		last = now
		secs := p.Elapsed.Seconds()
		rate := float64(p.Messages) / max(secs, 0.001)
		eta := "?"
		if rate > 0 && p.MessagesTotal >= p.Messages {
			eta = (time.Duration(float64(p.MessagesTotal-p.Messages)/rate) * time.Second).Round(time.Second).String()
		}
		line := fmt.Sprintf("folders %d/%d  messages %d/%d  %.1f MB  %.0f msg/s  ETA %s  %s",
			p.FoldersDone, p.FoldersTotal, p.Messages, p.MessagesTotal, float64(p.Bytes)/1e6, rate, eta, p.Folder)
		if tty {
			const width = 20
			done := 0
			if p.MessagesTotal > 0 {
				done = min(width, p.Messages*width/p.MessagesTotal)
			}
			fmt.Fprintf(e.stderr, "\r[%s%s] %s\x1b[K", strings.Repeat("#", done), strings.Repeat(".", width-done), line)
		} else {
			fmt.Fprintln(e.stderr, "progress: "+line)
		}
	}
}

func finishProgress(e *env) {
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "\r\x1b[K")
	}
}

// migrationDomains is the hosted domain of 'migrate status DOMAIN', or
// every hosted domain.
func migrationDomains(ctx context.Context, st *store.Store, pos []string) ([]string, error) {
	if len(pos) == 1 {
		d, err := hostedDomain(ctx, st, pos[0])
		if err != nil {
			return nil, err
		}
		return []string{d}, nil
	}
	ds, err := st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var domains []string
	for _, d := range ds {
		domains = append(domains, d.Name)
	}
	return domains, nil
}

// migrateStatus shows where each domain stands in the seed document's
// switch-over checklist, measured where it can be.
func migrateStatus(e *env, args []string) error {
	var asJSON bool
	var timeout time.Duration
	dir, pos, err := parseWith(e, "migrate status", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the steps as JSON")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query")
	})
	if err != nil {
		return err
	}
	if err := atMostOneDomain("migrate status", pos); err != nil {
		return err
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		ctx := context.Background()
		domains, err := migrationDomains(ctx, st, pos)
		if err != nil {
			return err
		}
		out, err := newBoxAdmin(dir, cfg, st, nil, nil).Migration(ctx, domains, timeout)
		if err != nil {
			return err
		}
		if asJSON {
			byDomain := map[string][]admin.MigrationStep{}
			for _, d := range out {
				byDomain[d.Domain] = d.Steps
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(byDomain)
		}
		for _, d := range out {
			fmt.Fprintf(e.stdout, "migration of %s\n", d.Domain)
			for _, s := range d.Steps {
				since := ""
				if !s.Since.IsZero() {
					since = " (since " + s.Since.Format("2006-01-02") + ")"
				}
				fmt.Fprintf(e.stdout, "  %d. %-8s %s: %s%s\n", s.N, s.State, s.Name, s.Found, since)
				for _, l := range s.Detail {
					fmt.Fprintf(e.stdout, "       %s\n", l)
				}
				if s.State != admin.StepDone && s.Next != "" {
					fmt.Fprintf(e.stdout, "     next: %s\n", s.Next)
				}
			}
		}
		return nil
	})
}

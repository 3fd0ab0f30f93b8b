package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
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

	"boxmail/internal/migrate"
	"boxmail/internal/store"
)

// cmdMigrate is the migration assistant: 'import' copies an old
// provider's mail into the box, 'status' shows where a domain stands in
// the switch-over checklist.
func cmdMigrate(e *env, args []string) error {
	sub, args, err := subcommand(args, "migrate", "import", "status")
	if err != nil {
		return err
	}
	if sub == "status" {
		return cmdMigrateStatus(e, args)
	}
	return cmdMigrateImport(e, args)
}

// importJob is one user's import: from the command line or a plan line.
type importJob struct {
	email                     string
	from, user, passwordFile  string
	mbox, maildir, mboxFolder string
}

// mapFlags collects --map OLD=NEW (not split at commas: folder names
// may hold them).
type mapFlags []string

func (l *mapFlags) String() string     { return strings.Join(*l, " ") }
func (l *mapFlags) Set(s string) error { *l = append(*l, s); return nil }

func cmdMigrateImport(e *env, args []string) error {
	var dir, folders, since, plan string
	var job importJob
	var insecure, all, asJSON bool
	var conns, batch int
	var maps mapFlags
	fs := newFlags(e, "migrate import", &dir)
	fs.StringVar(&job.from, "from", "", "old IMAP server: imaps://host[:993] or imap://host[:143] (STARTTLS)")
	fs.StringVar(&job.user, "user", "", "login at the old server (default: EMAIL)")
	fs.StringVar(&job.passwordFile, "password-file", "", "file whose first line is the old password (default: read from the terminal or stdin)")
	fs.BoolVar(&insecure, "insecure", false, "allow plaintext IMAP and unverified certificates")
	fs.StringVar(&job.mbox, "mbox", "", "import an mbox file or a directory of them (Thunderbird) instead")
	fs.StringVar(&job.mboxFolder, "folder", "INBOX", "with --mbox FILE: the folder it goes to")
	fs.StringVar(&job.maildir, "maildir", "", "import a Maildir (Dovecot/Mail-in-a-Box backup) instead")
	fs.StringVar(&folders, "folders", "all", "old folders to import: all, or a comma-separated list")
	fs.StringVar(&since, "since", "", "only messages from this date on (YYYY-MM-DD)")
	fs.Var(&maps, "map", "OLD=NEW: put old folder OLD into box folder NEW (repeatable)")
	fs.IntVar(&conns, "connections", 2, "parallel connections to the old server")
	fs.IntVar(&batch, "batch", 100, "messages per FETCH and per commit")
	fs.BoolVar(&all, "all", false, "import every user of --plan")
	fs.StringVar(&plan, "plan", "", "CSV file: box address, old login, password file, old IMAP URL (one user a line)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	opts := migrate.Options{Parallel: conns, BatchCount: batch, Map: map[string]string{}}
	if folders != "" && folders != "all" {
		for _, f := range strings.Split(folders, ",") {
			if f = strings.TrimSpace(f); f != "" {
				opts.Folders = append(opts.Folders, f)
			}
		}
	}
	if since != "" {
		t, err := time.ParseInLocation("2006-01-02", since, time.Local)
		if err != nil {
			return usagef("--since %q: want a date like 2024-01-31", since)
		}
		opts.Since = t
	}
	for _, m := range maps {
		old, nw, ok := strings.Cut(m, "=")
		if !ok || old == "" || nw == "" {
			return usagef("--map %q: want OLD=NEW", m)
		}
		opts.Map[old] = nw
	}
	var jobs []importJob
	switch {
	case all:
		if plan == "" || len(pos) > 0 {
			return usagef("usage: migrate import --all --plan FILE")
		}
		jobs, err = readPlan(plan)
		if err != nil {
			return err
		}
	case len(pos) != 1:
		return usagef("usage: migrate import EMAIL --from imaps://HOST --user LOGIN [--password-file F] | --mbox FILE | --maildir DIR")
	default:
		job.email = pos[0]
		n := 0
		for _, s := range []string{job.from, job.mbox, job.maildir} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return usagef("give exactly one of --from URL, --mbox FILE, --maildir DIR")
		}
		jobs = []importJob{job}
	}

	_, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Store, opts.Logger = st, log

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
	defer f.Close()
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
	defer src.Close()
	out := e.stdout
	if quiet {
		out = io.Discard
	}
	fmt.Fprintf(out, "importing %s into %s\n", src.Name(), acc.Email)
	opts.Progress = newProgress(e)
	runID, err := st.StartImportRun(ctx, acc.ID, src.Name())
	if err != nil {
		return nil, err
	}
	rep, err := migrate.Import(ctx, opts, src)
	if rep != nil {
		finishProgress(e)
		printReport(out, rep)
		t := rep.Totals()
		js, _ := json.Marshal(rep)
		// The run is recorded even when interrupted, with what it did.
		if ferr := st.FinishImportRun(context.WithoutCancel(ctx), store.ImportRun{ID: runID, Verified: rep.Done(), Copied: t.Copied,
			Present: t.Present, Skipped: t.Skipped, Failed: t.Failed, Report: string(js)}); ferr != nil && err == nil {
			err = ferr
		}
	}
	return rep, err
}

// readOldPassword reads the old provider's password from a file, the
// terminal (without echo) or the first line of stdin.
func readOldPassword(e *env, file, user string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading password file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimRight(line, "\r"), nil
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
	tw.Flush()
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

package main

// 'boxmail spam': the spam filter (internal/spam, delivery/spam.go):
// check a message as delivery would, train an account from files, show
// what the models hold.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

func spamCommands() []subcommand {
	return []subcommand{
		{name: "check", args: "FILE [--user EMAIL]", summary: "score a message (- for stdin): first line score=N verdict=inbox|junk|reject, then the reasons", run: spamCheck},
		{name: "train", args: "--spam|--ham EMAIL FILE|DIR", summary: "train an account's filter from messages (a file, or every file under a directory)", run: spamTrain},
		{name: "stats", args: "[EMAIL]", summary: "what each account's model (and the household's) was trained on, and the trainings waiting", run: spamStats},
	}
}

// spamDeliverer is a deliverer with the config's spam settings (it runs
// no queue and no trainer).
func spamDeliverer(cfg config.Config, st *store.Store) *delivery.Deliverer {
	return delivery.New(delivery.Options{Store: st, Hostname: cfg.Hostname, Spam: spamOptions(cfg)})
}

func spamCheck(e *env, args []string) error {
	var user string
	dir, pos, err := parseArgs(e, "spam check", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "judge with this account's model and history (default: the household model)")
	})
	if err != nil {
		return err
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		ctx := context.Background()
		id := int64(store.HouseholdModel)
		if user != "" {
			a, err := st.AccountByEmail(ctx, strings.ToLower(user))
			if err != nil {
				return fmt.Errorf("no account %s", user)
			}
			id = a.ID
		}
		r, err := spamDeliverer(cfg, st).CheckSpam(ctx, data, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "score=%.2f verdict=%s\n", r.Score, r.Verdict)
		for _, x := range r.Reasons {
			fmt.Fprintf(e.stdout, "  %s\n", x)
		}
		return nil
	})
}

// trainChunk is how many messages spam train reads before training them.
const trainChunk = 200

func spamTrain(e *env, args []string) error {
	var isSpam, isHam bool
	dir, pos, err := parseArgs(e, "spam train", args, 2, func(fs *flag.FlagSet) {
		fs.BoolVar(&isSpam, "spam", false, "the messages are spam")
		fs.BoolVar(&isHam, "ham", false, "the messages are wanted mail")
	})
	if err != nil {
		return err
	}
	if isSpam == isHam {
		return usagef("spam train needs exactly one of --spam and --ham")
	}
	class := store.SpamClassHam
	if isSpam {
		class = store.SpamClassSpam
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		ctx := context.Background()
		a, err := st.AccountByEmail(ctx, strings.ToLower(pos[0]))
		if err != nil {
			return fmt.Errorf("no account %s", pos[0])
		}
		d := spamDeliverer(cfg, st)
		var batch []delivery.TrainInput
		n := 0
		flush := func() error {
			err := d.TrainSpam(ctx, batch)
			n += len(batch)
			batch = batch[:0]
			return err
		}
		err = filepath.WalkDir(pos[1], func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			batch = append(batch, delivery.TrainInput{AccountID: a.ID, Data: data, Class: class})
			if len(batch) == trainChunk {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "trained %d messages as %s for %s\n", n, map[bool]string{true: "spam", false: "ham"}[isSpam], a.Email)
		return nil
	})
}

func spamStats(e *env, args []string) error {
	dir, pos, err := parseWith(e, "spam stats", args, nil)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("spam stats takes at most one EMAIL")
	}
	return withStore(dir, func(st *store.Store) error {
		ctx := context.Background()
		accs, err := forwardAccounts(ctx, st, pos)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%-30s %8s %8s %8s\n", "MODEL", "SPAM", "HAM", "TOKENS")
		show := func(name string, id int64) error {
			s, err := st.SpamStats(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%-30s %8d %8d %8d\n", name, s.Spam, s.Ham, s.Tokens)
			return nil
		}
		if len(pos) == 0 {
			if err := show("(household)", store.HouseholdModel); err != nil {
				return err
			}
		}
		for _, a := range accs {
			if err := show(a.Email, a.ID); err != nil {
				return err
			}
		}
		q, err := st.SpamQueued(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "queued for training: %d\n", q)
		return nil
	})
}

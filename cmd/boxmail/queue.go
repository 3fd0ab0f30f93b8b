package main

// 'boxmail queue': the outbound queue.

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/store"
)

func queueCommands() []subcommand {
	return []subcommand{
		{name: "list", summary: "the outbound queue entries", run: queueList},
		{name: "retry", args: "ID | --all", summary: "try an entry (or every entry) again now", run: queueRetry},
		{name: "remove", args: "ID [--silent]", summary: "drop an entry and bounce it to its sender", run: queueRemove},
	}
}

// queueID parses the one queue ID argument.
func queueID(sub string, pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("queue %s takes one queue ID", sub)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("queue ID %q is not a positive number", pos[0])
	}
	return id, nil
}

func queueList(e *env, args []string) error {
	dir, pos, err := parseWith(e, "queue list", args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("queue list takes no arguments")
	}
	return withStore(dir, func(st *store.Store) error {
		q, err := st.Queue(context.Background())
		if err != nil {
			return err
		}
		tw := newTable(e.stdout, "ID\tSENDER\tRECIPIENTS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, it := range q {
			fmt.Fprintf(tw, "%d\t<%s>\t%s\t%d\t%s\t%s\n", it.ID, it.Sender, strings.Join(it.Recipients, ","), it.Attempts, it.NextAttempt.Format(time.RFC3339), it.LastError)
		}
		return tw.Flush()
	})
}

func queueRetry(e *env, args []string) error {
	var all bool
	dir, pos, err := parseWith(e, "queue retry", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&all, "all", false, "retry every entry now")
	})
	if err != nil {
		return err
	}
	var id int64
	if all && len(pos) != 0 {
		return usagef("queue retry takes an ID or --all, not both")
	} else if !all {
		if id, err = queueID("retry", pos); err != nil {
			return err
		}
	}
	return withStore(dir, func(st *store.Store) error {
		n, err := newAdmin(st).RetryQueued(context.Background(), id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d queue entries will be retried now\n", n)
		return nil
	})
}

func queueRemove(e *env, args []string) error {
	var silent bool
	dir, pos, err := parseWith(e, "queue remove", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&silent, "silent", false, "do not send the sender a bounce")
	})
	if err != nil {
		return err
	}
	id, err := queueID("remove", pos)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		cfg, err := config.Load(dir)
		if err != nil {
			return err
		}
		if err := newBoxAdmin(dir, cfg, st, nil, nil).RemoveQueued(context.Background(), id, silent); err != nil {
			return err
		}
		if silent {
			fmt.Fprintf(e.stdout, "removed queue entry %d\n", id)
		} else {
			fmt.Fprintf(e.stdout, "removed queue entry %d and told its sender\n", id)
		}
		return nil
	})
}

package main

// 'boxmail dav': contacts and calendars; 'dav share' makes a family's
// shared address book or calendar and grants it to chosen accounts
// (admin.Service, davshare.go).

import (
	"context"
	"flag"
	"fmt"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

func davCommands() []subcommand {
	return []subcommand{
		{name: "share", summary: "shared address books and calendars", subs: davShareCommands},
	}
}

func davShareCommands() []subcommand {
	return []subcommand{
		{name: "create", args: "OWNER contacts|calendars NAME [--display TEXT]", summary: "make an address book or calendar in OWNER's account to share (an existing one is kept)", run: davShareCreate},
		{name: "grant", args: "OWNER contacts|calendars NAME USER [--write]", summary: "share it with USER, read-only (or read/write with --write); again to change the access", run: davShareGrant},
		{name: "revoke", args: "OWNER contacts|calendars NAME USER", summary: "stop sharing it with USER", run: davShareRevoke},
		{name: "list", summary: "every shared address book and calendar, and with whom", run: davShareList},
	}
}

func davShareCreate(e *env, args []string) error {
	var display string
	dir, pos, err := parseArgs(e, "dav share create", args, 3, func(fs *flag.FlagSet) {
		fs.StringVar(&display, "display", "", "the name clients show (default: NAME)")
	})
	if err != nil {
		return err
	}
	kind, err := admin.ParseDAVKind(pos[1])
	if err != nil {
		return usagef("%v", err)
	}
	return withStore(dir, func(st *store.Store) error {
		c, err := newAdmin(st).CreateSharedDAVCollection(context.Background(), pos[0], kind, pos[2], display)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s/%s (%q) ready to share; grant it with 'boxmail dav share grant %s %s %s USER'\n",
			pos[0], admin.DAVKindName(kind), c.Name, c.DisplayName, pos[0], admin.DAVKindName(kind), c.Name)
		return nil
	})
}

func davShareGrant(e *env, args []string) error {
	var write bool
	dir, pos, err := parseArgs(e, "dav share grant", args, 4, func(fs *flag.FlagSet) {
		fs.BoolVar(&write, "write", false, "the account may also add, change and remove entries")
	})
	if err != nil {
		return err
	}
	kind, err := admin.ParseDAVKind(pos[1])
	if err != nil {
		return usagef("%v", err)
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).GrantDAVCollection(context.Background(), pos[0], kind, pos[2], pos[3], write); err != nil {
			return err
		}
		access := "read-only"
		if write {
			access = "read/write"
		}
		fmt.Fprintf(e.stdout, "shared %s %s/%s with %s, %s\n", pos[0], admin.DAVKindName(kind), pos[2], pos[3], access)
		return nil
	})
}

func davShareRevoke(e *env, args []string) error {
	dir, pos, err := parseArgs(e, "dav share revoke", args, 4, nil)
	if err != nil {
		return err
	}
	kind, err := admin.ParseDAVKind(pos[1])
	if err != nil {
		return usagef("%v", err)
	}
	return withStore(dir, func(st *store.Store) error {
		if err := newAdmin(st).RevokeDAVCollection(context.Background(), pos[0], kind, pos[2], pos[3]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "stopped sharing %s %s/%s with %s\n", pos[0], admin.DAVKindName(kind), pos[2], pos[3])
		return nil
	})
}

func davShareList(e *env, args []string) error {
	dir, _, err := parseArgs(e, "dav share list", args, 0, nil)
	if err != nil {
		return err
	}
	return withStore(dir, func(st *store.Store) error {
		shs, err := newAdmin(st).DAVShares(context.Background())
		if err != nil {
			return err
		}
		tw := newTable(e.stdout, "OWNER\tKIND\tNAME\tDISPLAY NAME\tSHARED WITH\tACCESS")
		for _, sh := range shs {
			access := "read"
			if sh.Write {
				access = "read/write"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sh.Owner, admin.DAVKindName(sh.Collection.Kind), sh.Collection.Name, sh.Collection.DisplayName, sh.Email, access)
		}
		return tw.Flush()
	})
}

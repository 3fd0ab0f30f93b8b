package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

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

// cmdUserQuota: 'user quota' lists usage, 'user quota EMAIL' shows one
// account's, 'user quota EMAIL SIZE|none' sets it.
func cmdUserQuota(e *env, args []string) error {
	var dir string
	fs := newFlags(e, "user quota", &dir)
	pos, err := parseFlags(e, fs, args)
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
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if len(pos) == 2 {
		if err := newAdmin(st).SetQuota(ctx, addr, size); err != nil {
			return err
		}
		if size == 0 {
			fmt.Fprintf(e.stdout, "%s: no quota\n", addr)
		} else {
			fmt.Fprintf(e.stdout, "%s: quota %s\n", addr, store.FormatBytes(size))
		}
		return nil
	}
	us, err := st.Usages(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tUSED\tQUOTA")
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

package main

// The deliverability lines of 'boxmail status': the MTA-STS mode the box
// serves, the DANE match of the TLSA record, and what the DMARC and TLS
// reports other mail systems sent this week say; the checks themselves
// are admin's (admin/deliverability.go), which the admin panel's
// Deliverability page shows too ('boxmail dmarc report' has all reports).

import (
	"context"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

func reportChecks(ctx context.Context, st *store.Store, in dnsrecords.Input, now time.Time) ([]dnsrecords.Result, error) {
	return admin.ReportChecks(ctx, st, in.Hostname, in.MTASTSEnforce, now)
}

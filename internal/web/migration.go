package web

// The admin panel's Migration page and GET /admin/api/migration: the
// switch-over checklist of 'boxmail migrate status', measured by
// admin.Service.Migration.

import (
	"context"
	"net/http"
	"time"

	"boxmail/internal/admin"
)

type migrationData struct {
	Domains          []admin.MigrationDomain
	Ran              string
	NotAvailableText string
}

// measuresMigration says whether the checklist can be measured here.
func (s *Server) measuresMigration() bool {
	return s.o.measureMigration != nil || s.o.Admin != nil && s.o.Admin.MeasuresMigration()
}

func (s *Server) migrationStatus(ctx context.Context) ([]admin.MigrationDomain, error) {
	if !s.measuresMigration() {
		return nil, badf("%s", admin.ErrNoMigration.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if s.o.measureMigration != nil {
		return s.o.measureMigration(ctx)
	}
	return s.o.Admin.Migration(ctx, nil, 3*time.Second)
}

// loadMigration measures only on request (?run=1): it asks DNS servers.
func loadMigration(s *Server, r *http.Request) (any, error) {
	if !s.measuresMigration() {
		return migrationData{NotAvailableText: "The migration checklist is not wired into this server."}, nil
	}
	if r.URL.Query().Get("run") == "" {
		return migrationData{}, nil
	}
	ds, err := s.migrationStatus(r.Context())
	if err != nil {
		return nil, err
	}
	return migrationData{Domains: ds, Ran: s.o.Now().UTC().Format("2006-01-02 15:04:05 UTC")}, nil
}

func (s *Server) apiMigration(r *http.Request, _ string) (any, error) {
	return s.migrationStatus(r.Context())
}

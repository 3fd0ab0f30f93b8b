package web

// The admin panel's Migration page and GET /admin/api/migration: the
// switch-over checklist of 'boxmail migrate status', measured by the
// function Options.MigrationStatus (the command's own code).

import (
	"context"
	"net/http"
	"time"
)

// MigrationStep is one step of a domain's switch-over checklist.
type MigrationStep struct {
	N      int       `json:"n"`
	Name   string    `json:"name"`
	State  string    `json:"state"` // "done", "waiting" or "to do"
	Found  string    `json:"found"`
	Next   string    `json:"next,omitempty"`   // the command or DNS change to make
	Since  time.Time `json:"since,omitzero"`   // first seen done
	Detail []string  `json:"detail,omitempty"` // per user or per resolver
}

// MigrationDomain is the checklist of one hosted domain.
type MigrationDomain struct {
	Domain string          `json:"domain"`
	Steps  []MigrationStep `json:"steps"`
}

type migrationData struct {
	Domains          []MigrationDomain
	Ran              string
	NotAvailableText string
}

func (s *Server) migrationStatus(ctx context.Context) ([]MigrationDomain, error) {
	if s.o.MigrationStatus == nil {
		return nil, badf("the migration checklist is not available on this server")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return s.o.MigrationStatus(ctx)
}

// loadMigration measures only on request (?run=1): it asks DNS servers.
func loadMigration(s *Server, r *http.Request) (any, error) {
	if s.o.MigrationStatus == nil {
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

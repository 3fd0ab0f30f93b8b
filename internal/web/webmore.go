package web

import "net/http"

// moreRoutes registers the TLS upload, alias editing, user disabling,
// turning off a user's two-step login, signing a user out everywhere, the
// account's forwarding rules and
// the migration page.
func (s *Server) moreRoutes(m *http.ServeMux) {
	a := func(pattern string, h apiHandler) { m.Handle(pattern, s.api(h)) }
	a("POST /admin/api/tls", s.apiInstallCert)
	a("PUT /admin/api/aliases/{address}", s.apiSetAlias)
	a("POST /admin/api/users/{email}/disabled", s.apiSetDisabled)
	a("POST /admin/api/users/{email}/sign-out", s.apiSignOut)
	a("DELETE /admin/api/users/{email}/two-step", func(r *http.Request, _ string) (any, error) {
		return nil, s.turnOffTwoStep(r.Context(), r.PathValue("email"))
	})
	a("GET /admin/api/migration", func(r *http.Request, _ string) (any, error) { return s.migrationStatus(r.Context()) })
	s.forwardRoutes(m) // forwarding.go: /account/forward, /account/api/forwards
}

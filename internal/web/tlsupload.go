package web

// Upload of a TLS certificate and key (admin TLS page and
// POST /admin/api/tls): checked and written by Options.InstallCertificate,
// the function 'boxmail tls install' calls; the listeners pick the new
// pair up at their next handshake. A pair with a new key is staged the
// same way as by 'boxmail tls install': the page says when the box
// switches to it, and "switch now" serves it
// at once ('boxmail tls switch --force'; POST /admin/api/tls {"switch":true}).

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

// StagedCertificate is a pair waiting for its TLSA record to be out for
// two TTLs before the box serves it.
type StagedCertificate struct {
	Names string // the names it is valid for
	TLSA  string // its TLSA record data ("3 1 1 ...")
	// SwitchAt is when the box serves it; an estimate while Published
	// is false (its TLSA not in the zone yet).
	SwitchAt  time.Time
	Published bool
}

// maxPEM bounds an uploaded certificate chain or key.
const maxPEM = 256 << 10

func (s *Server) installCert(ctx context.Context, certPEM, keyPEM string) (staged bool, err error) {
	if s.o.InstallCertificate == nil {
		return false, badf("uploading a certificate is not available on this server")
	}
	if strings.TrimSpace(certPEM) == "" {
		return false, badf("cert is missing: paste or upload the PEM certificate chain")
	}
	if strings.TrimSpace(keyPEM) == "" {
		return false, badf("key is missing: paste or upload the PEM private key")
	}
	if len(certPEM) > maxPEM || len(keyPEM) > maxPEM {
		return false, badf("the certificate or key is too large to be one")
	}
	if staged, err = s.o.InstallCertificate(ctx, []byte(certPEM), []byte(keyPEM)); err != nil {
		return false, classify(err)
	}
	s.log.Info("TLS certificate installed from the web", "staged", staged)
	return staged, nil
}

// staged is the pair waiting for its TLSA, nil when none.
func (s *Server) staged() *StagedCertificate {
	if s.o.StagedCertificate == nil {
		return nil
	}
	return s.o.StagedCertificate()
}

// switchCert serves the staged pair now.
func (s *Server) switchCert(ctx context.Context) error {
	if s.o.SwitchCertificate == nil || s.staged() == nil {
		return badf("no certificate is staged")
	}
	if err := s.o.SwitchCertificate(ctx); err != nil {
		return classify(err)
	}
	s.log.Info("TLS certificate: switched to the staged pair from the web")
	return nil
}

// switchTime is how the TLS page writes when a staged pair is served.
func switchTime(t time.Time) string { return t.UTC().Format("15:04") + " UTC" }

// formPEM returns a PEM field of the TLS form: the uploaded file if one
// was chosen, else the pasted text.
func formPEM(r *http.Request, name string) (string, error) {
	if r.MultipartForm != nil {
		if fhs := r.MultipartForm.File[name+"_file"]; len(fhs) > 0 && fhs[0].Size > 0 {
			return readUpload(fhs[0])
		}
	}
	return r.PostFormValue(name), nil
}

func readUpload(fh *multipart.FileHeader) (_ string, err error) {
	if fh.Size > maxPEM {
		return "", badf("%s is too large to be a certificate or key", fh.Filename)
	}
	f, err := fh.Open()
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	return string(b), err
}

func tlsForm(s *Server, r *http.Request, _ string) (string, error) {
	switch r.PostFormValue("op") {
	case "upload":
	case "switch":
		if err := s.switchCert(r.Context()); err != nil {
			return "", err
		}
		return "Switched: the new certificate is in use from the next connection, and the old key's TLSA record goes.", nil
	default:
		return "", badf("unknown action")
	}
	cert, err := formPEM(r, "cert")
	if err != nil {
		return "", err
	}
	key, err := formPEM(r, "key")
	if err != nil {
		return "", err
	}
	staged, err := s.installCert(r.Context(), cert, key)
	if err != nil {
		return "", err
	}
	if st := s.staged(); staged && st != nil {
		return "The new certificate is staged, switches at " + switchTime(st.SwitchAt) +
			": its key is new, so its TLSA record is published beside the current one first, and mail servers that check DANE accept it when it is served.", nil
	}
	return "The new certificate is installed and in use from the next connection.", nil
}

// apiInstallCert installs (or stages) a pair, or with {"switch": true}
// serves the staged pair now.
func (s *Server) apiInstallCert(r *http.Request, _ string) (any, error) {
	var in struct {
		Cert   string `json:"cert"`
		Key    string `json:"key"`
		Switch bool   `json:"switch"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	switch {
	case in.Switch && (in.Cert != "" || in.Key != ""):
		return nil, badf("switch takes no cert or key")
	case in.Switch:
		if err := s.switchCert(r.Context()); err != nil {
			return nil, err
		}
	default:
		if _, err := s.installCert(r.Context(), in.Cert, in.Key); err != nil {
			return nil, err
		}
	}
	return s.tlsInfo(), nil
}

package web

// Upload of a TLS certificate and key (admin TLS page and
// POST /admin/api/tls): checked and written by Options.InstallCertificate,
// the function 'boxmail tls install' calls; the listeners pick the new
// pair up at their next handshake.

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
)

// maxPEM bounds an uploaded certificate chain or key.
const maxPEM = 256 << 10

func (s *Server) installCert(ctx context.Context, certPEM, keyPEM string) error {
	if s.o.InstallCertificate == nil {
		return badf("uploading a certificate is not available on this server")
	}
	if strings.TrimSpace(certPEM) == "" {
		return badf("cert is missing: paste or upload the PEM certificate chain")
	}
	if strings.TrimSpace(keyPEM) == "" {
		return badf("key is missing: paste or upload the PEM private key")
	}
	if len(certPEM) > maxPEM || len(keyPEM) > maxPEM {
		return badf("the certificate or key is too large to be one")
	}
	if err := s.o.InstallCertificate(ctx, []byte(certPEM), []byte(keyPEM)); err != nil {
		return classify(err)
	}
	s.log.Info("TLS certificate installed from the web")
	return nil
}

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
	if r.PostFormValue("op") != "upload" {
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
	if err := s.installCert(r.Context(), cert, key); err != nil {
		return "", err
	}
	return "The new certificate is installed and in use from the next connection.", nil
}

func (s *Server) apiInstallCert(r *http.Request, _ string) (any, error) {
	var in struct {
		Cert string `json:"cert"`
		Key  string `json:"key"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := s.installCert(r.Context(), in.Cert, in.Key); err != nil {
		return nil, err
	}
	return s.tlsInfo(), nil
}

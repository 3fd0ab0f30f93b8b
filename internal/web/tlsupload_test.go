package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"boxmail/internal/admin"
)

func TestTLSUploadGoesThroughInstallCertificate(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts, _, logs := newServerWith(t, func(o *Options) {
		o.InstallCertificate = func(_ context.Context, c, k []byte) error {
			if string(c) == "expired" {
				return &admin.InputError{Msg: "the certificate expired on 2020-01-01"}
			}
			mu.Lock()
			got = append(got, string(c)+"|"+string(k))
			mu.Unlock()
			return nil
		}
	})
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	for _, c := range []struct{ body, want string }{
		{`{"key":"SECRET-KEY"}`, "cert is missing"},
		{`{"cert":"C"}`, "key is missing"},
		{`{"cert":"expired","key":"SECRET-KEY"}`, "expired on 2020-01-01"},
		{`{"cert":"C","key":"K","extra":1}`, "unknown field"},
	} {
		code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, c.body)
		if msg, _ := m["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", c.body, code, msg, c.want)
		}
	}
	if len(got) != 0 {
		t.Fatalf("bad input installed %v", got)
	}
	if code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, `{"cert":"CERT","key":"SECRET-KEY"}`); code != 200 {
		t.Fatalf("upload: %d %v", code, m)
	}
	// The page's form, as a browser sends it: files win over the text boxes.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", csrf)
	mw.WriteField("op", "upload")
	mw.WriteField("cert", "ignored")
	fw, _ := mw.CreateFormFile("cert_file", "cert.pem")
	fw.Write([]byte("FILECERT"))
	mw.WriteField("key", "PASTEDKEY")
	mw.Close()
	req, _ := http.NewRequest("POST", ts.URL+"/admin/tls", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := adm.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("form: %s", res.Status)
	}
	if _, page := get(t, adm, ts.URL+"/admin/tls"); !strings.Contains(page, "new certificate is installed") {
		t.Errorf("no success message on the TLS page:\n%s", page)
	}
	if strings.Join(got, ",") != "CERT|SECRET-KEY,FILECERT|PASTEDKEY" {
		t.Errorf("installed %q", got)
	}
	if strings.Contains(logs.String(), "SECRET-KEY") || strings.Contains(logs.String(), "PASTEDKEY") {
		t.Errorf("a private key is in the log:\n%s", logs)
	}
}

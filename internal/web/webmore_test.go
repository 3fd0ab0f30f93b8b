package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// newMoreServer is newTestServer with options changed by mod.
func newMoreServer(t *testing.T, mod func(*Options)) (*httptest.Server, *store.Store, *strings.Builder) {
	t.Helper()
	store.BcryptCost = 4
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.AddDomain(ctx, "example.net")
	if _, err := st.AddAccount(ctx, "admin@example.net", adminPW, true); err != nil {
		t.Fatal(err)
	}
	st.AddAccount(ctx, "kid@example.net", userPW, false)
	logs := &strings.Builder{}
	o := Options{Store: st, Deliverer: delivery.New(delivery.Options{Store: st}), Hostname: "box.example.net",
		Services: Services{IMAPS: 993, IMAP: 143, Submission: 587, Submissions: 465}, Logger: newTextLogger(logs)}
	if mod != nil {
		mod(&o)
	}
	ts := httptest.NewTLSServer(New(o).Handler())
	t.Cleanup(ts.Close)
	return ts, st, logs
}

// The routes added by webmore.go, each with a valid body.
var moreAdminRoutes = []struct{ method, path, body string }{
	{"POST", "/admin/api/tls", `{"cert":"C","key":"K"}`},
}

func TestMoreAdminRoutesNeedAnAdminAndTheCSRFToken(t *testing.T) {
	var calls int
	ts, _, _ := newMoreServer(t, func(o *Options) {
		o.InstallCertificate = func(context.Context, []byte, []byte) error { calls++; return nil }
	})
	anon, kid, adm := client(ts), client(ts), client(ts)
	kidCSRF := login(t, ts, kid, "kid@example.net", userPW)
	login(t, ts, adm, "admin@example.net", adminPW)
	for _, r := range moreAdminRoutes {
		if code, _ := api(t, anon, r.method, ts.URL+r.path, "", r.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without login: %d, want 401", r.method, r.path, code)
		}
		if code, _ := api(t, kid, r.method, ts.URL+r.path, kidCSRF, r.body); code != http.StatusForbidden {
			t.Errorf("%s %s as a user: %d, want 403", r.method, r.path, code)
		}
		if r.method != "GET" {
			if code, _ := api(t, adm, r.method, ts.URL+r.path, "", r.body); code != http.StatusForbidden {
				t.Errorf("%s %s as admin without X-CSRF-Token: %d, want 403", r.method, r.path, code)
			}
		}
	}
	if calls != 0 {
		t.Errorf("refused requests installed a certificate %d times", calls)
	}
}

func TestTLSUploadGoesThroughInstallCertificate(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts, _, logs := newMoreServer(t, func(o *Options) {
		o.InstallCertificate = func(_ context.Context, c, k []byte) error {
			if string(c) == "expired" {
				return &delivery.InputError{Msg: "the certificate expired on 2020-01-01"}
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

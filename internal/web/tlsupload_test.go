package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/admin"
)

func TestTLSUploadGoesThroughInstallCertificate(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts, _, logs := newServerWith(t, func(o *Options) {
		o.InstallCertificate = func(_ context.Context, c, k []byte) (bool, error) {
			if string(c) == "expired" {
				return false, &admin.InputError{Msg: "the certificate expired on 2020-01-01"}
			}
			mu.Lock()
			got = append(got, string(c)+"|"+string(k))
			mu.Unlock()
			return false, nil
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

// A pair with a new key is staged, not installed: the TLS page says when
// it switches and offers "switch now", which serves it at once; the API
// does the same.
func TestTLSUploadOfANewKeyIsStagedWithASwitchNowButton(t *testing.T) {
	var mu sync.Mutex
	var staged *StagedCertificate
	var switched int
	at := time.Date(2026, 12, 6, 16, 42, 0, 0, time.UTC)
	ts, _, _ := newServerWith(t, func(o *Options) {
		o.InstallCertificate = func(_ context.Context, c, _ []byte) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			staged = &StagedCertificate{Names: "mail.example.net", TLSA: "3 1 1 abcd", SwitchAt: at}
			return true, nil
		}
		o.StagedCertificate = func() *StagedCertificate {
			mu.Lock()
			defer mu.Unlock()
			return staged
		}
		o.SwitchCertificate = func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			staged = nil
			switched++
			return nil
		}
	})
	adm := client(ts)
	csrf := login(t, ts, adm, "admin@example.net", adminPW)
	if _, page := get(t, adm, ts.URL+"/admin/tls"); strings.Contains(page, "tls-switch-now") {
		t.Fatalf("a switch button with nothing staged:\n%s", page)
	}
	if code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, `{"switch":true}`); code != 400 || !strings.Contains(m["error"].(string), "no certificate is staged") {
		t.Errorf("switch with nothing staged: %d %v", code, m)
	}
	post := func(form url.Values) {
		t.Helper()
		form.Set("csrf", csrf)
		res, err := adm.PostForm(ts.URL+"/admin/tls", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("form: %s", res.Status)
		}
	}
	post(url.Values{"op": {"upload"}, "cert": {"NEWCERT"}, "key": {"NEWKEY"}})
	_, page := get(t, adm, ts.URL+"/admin/tls")
	for _, want := range []string{"The new certificate is staged, switches at 16:42 UTC", "Staged, switches at 16:42 UTC", "3 1 1 abcd", `id="tls-switch-now"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the TLS page after a staged upload lacks %q:\n%s", want, page)
		}
	}
	if code, m := api(t, adm, "GET", ts.URL+"/admin/api/tls", "", ""); code != 200 || m["SwitchAt"] != "16:42 UTC" {
		t.Errorf("GET /admin/api/tls while staged: %d %v", code, m)
	}
	post(url.Values{"op": {"switch"}})
	if _, page := get(t, adm, ts.URL+"/admin/tls"); !strings.Contains(page, "Switched: the new certificate is in use") || strings.Contains(page, "tls-switch-now") {
		t.Errorf("the TLS page after switch now:\n%s", page)
	}
	if code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, `{"cert":"C","key":"K"}`); code != 200 || m["SwitchAt"] != "16:42 UTC" {
		t.Errorf("API upload of a new key: %d %v", code, m)
	}
	if code, m := api(t, adm, "POST", ts.URL+"/admin/api/tls", csrf, `{"switch":true}`); code != 200 || m["Staged"] != nil {
		t.Errorf("API switch: %d %v", code, m)
	}
	if switched != 2 {
		t.Errorf("switched %d times, want 2", switched)
	}
}

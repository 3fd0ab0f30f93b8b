package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"boxmail/internal/admin"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// exportServer is a test server whose ExportMail is fn.
func exportServer(t *testing.T, fn func(ctx context.Context, accountID int64, w io.Writer, maxBytes int64) error) (*httptest.Server, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st := testutil.Store(t)
	st.AddDomain(ctx, "example.net")
	if _, err := st.AddAccount(ctx, "admin@example.net", adminPW, true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAccount(ctx, "kid@example.net", userPW, false); err != nil {
		t.Fatal(err)
	}
	s := New(Options{Store: st, Admin: admin.New(admin.Options{Store: st}), Hostname: "box.example.net", ExportMail: fn})
	ts := httptest.NewTLSServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, st
}

func TestMailDownloadIsTheCallersOwnOrAnAdmins(t *testing.T) {
	var got []int64
	ts, st := exportServer(t, func(_ context.Context, id int64, w io.Writer, max int64) error {
		got = append(got, id)
		_, err := io.WriteString(w, "PK-zip")
		return err
	})
	kid, adm := client(ts), client(ts)
	login(t, ts, kid, "kid@example.net", userPW)
	login(t, ts, adm, "admin@example.net", adminPW)
	kidAcc, _ := st.AccountByEmail(context.Background(), "kid@example.net")

	res, err := kid.Get(ts.URL + "/account/mail.zip")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "PK-zip" || res.Header.Get("Content-Type") != "application/zip" ||
		res.Header.Get("Content-Disposition") == "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("own download: %s %v %q", res.Status, res.Header, body)
	}
	if code, _ := get(t, kid, ts.URL+"/admin/users/admin@example.net/mail.zip"); code != http.StatusForbidden {
		t.Errorf("a user downloading the admin's mail: %d", code)
	}
	if code, body := get(t, adm, ts.URL+"/admin/users/kid@example.net/mail.zip"); code != 200 || body != "PK-zip" {
		t.Errorf("the admin downloading kid's mail: %d %q", code, body)
	}
	if code, _ := get(t, adm, ts.URL+"/admin/users/nobody@example.net/mail.zip"); code != http.StatusNotFound {
		t.Errorf("the admin downloading no one's mail: %d", code)
	}
	if len(got) != 2 || got[0] != kidAcc.ID || got[1] != kidAcc.ID {
		t.Errorf("exported accounts %v, want kid's (%d) twice", got, kidAcc.ID)
	}
}

func TestMailDownloadsAreLimitedAndAFailureBreaksTheDownload(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	ts, _ := exportServer(t, func(ctx context.Context, _ int64, w io.Writer, _ int64) error {
		if _, err := io.WriteString(w, "PK-part"); err != nil {
			return err
		}
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-release
		return errors.New("disk gone")
	})
	kid := client(ts)
	login(t, ts, kid, "kid@example.net", userPW)
	errs := make(chan error, exportsAtOnce)
	for range exportsAtOnce {
		go func() {
			res, err := kid.Get(ts.URL + "/account/mail.zip")
			if err == nil {
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			errs <- err
		}()
	}
	for range exportsAtOnce {
		<-started
	}
	if code, body := get(t, kid, ts.URL+"/account/mail.zip"); code != http.StatusServiceUnavailable || !strings.Contains(body, "try again") {
		t.Errorf("a download beyond %d at once: %d %q", exportsAtOnce, code, body)
	}
	close(release)
	for range exportsAtOnce {
		if err := <-errs; err == nil {
			t.Error("a download that failed midway read as complete")
		}
	}
	ts2, _, _ := newTestServer(t)
	c := client(ts2)
	login(t, ts2, c, "kid@example.net", userPW)
	if code, _ := get(t, c, ts2.URL+"/account/mail.zip"); code != http.StatusNotFound {
		t.Errorf("a download without ExportMail: %d", code)
	}
}

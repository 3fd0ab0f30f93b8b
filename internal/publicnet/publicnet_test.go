package publicnet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"100.128.0.1", true},
		{"64:ff9b::5db8:d822", true}, // NAT64 of 93.184.216.34
		{"::ffff:93.184.216.34", true},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // the cloud metadata service
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"192.0.2.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"198.18.0.1", false},
		{"224.0.0.1", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"::7f00:1", false}, // IPv4-compatible 127.0.0.1
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false},  // NAT64 of 10.0.0.1
		{"64:ff9b:1::1", false},
		{"2002:7f00:1::", false},
		{"2001::1", false},
		{"2001:db8::1", false},
		{"100::1", false},
	} {
		if got := Addr(netip.MustParseAddr(tc.ip)); got != tc.public {
			t.Errorf("Addr(%s) = %v, want %v", tc.ip, got, tc.public)
		}
	}
}

// origin is a loopback web server and the address and port it listens on.
func origin(t *testing.T, h http.HandlerFunc) (*httptest.Server, netip.AddrPort) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, netip.MustParseAddrPort(srv.Listener.Addr().String())
}

// lookupAs resolves every name to the addresses given.
func lookupAs(ips ...string) func(context.Context, string) ([]netip.Addr, error) {
	return func(context.Context, string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range ips {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
}

func TestAClientRefusesLoopbackByAddressAndByName(t *testing.T) {
	_, ap := origin(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) })
	port := strconv.Itoa(int(ap.Port()))
	c := Client(Options{Lookup: lookupAs("127.0.0.1")})
	for _, u := range []string{"http://127.0.0.1:" + port + "/", "http://rebound.example:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		_, err := c.Get(u)
		if !errors.Is(err, ErrNotPublic) {
			t.Errorf("GET %s: %v, want ErrNotPublic", u, err)
		}
	}
}

func TestAllowLetsATestReachItsOwnListener(t *testing.T) {
	_, ap := origin(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	c := Client(Options{Lookup: lookupAs("::1", ap.Addr().String()), Allow: func(a netip.AddrPort) bool { return a == ap }})
	res, err := c.Get("http://origin.example:" + strconv.Itoa(int(ap.Port())) + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
}

func TestPortOverridesTheURLsPort(t *testing.T) {
	_, ap := origin(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("policy")) })
	c := Client(Options{Lookup: lookupAs("127.0.0.1"), Port: int(ap.Port()), Allow: func(a netip.AddrPort) bool { return a == ap }})
	res, err := c.Get("http://mta-sts.example/.well-known/mta-sts.txt") // port 80 in the URL
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
}

func TestRedirectsAreRefusedUnlessTheCallerSaysSo(t *testing.T) {
	srv, ap := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("b"))
	})
	allow := func(a netip.AddrPort) bool { return a == ap }
	if _, err := Client(Options{Allow: allow}).Get(srv.URL + "/a"); err == nil || !strings.Contains(err.Error(), "redirect refused") {
		t.Errorf("default policy followed a redirect: %v", err)
	}
	follow := func(*http.Request, []*http.Request) error { return nil }
	res, err := Client(Options{Allow: allow, CheckRedirect: follow}).Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
}

func TestAHugeHeaderOrASlowServerIsCutOff(t *testing.T) {
	srv, ap := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
			return
		}
		w.Header().Set("X-Big", strings.Repeat("x", 8<<10))
		_, _ = w.Write([]byte("b"))
	})
	c := Client(Options{Allow: func(a netip.AddrPort) bool { return a == ap }, MaxHeaderBytes: 4 << 10, Timeout: 300 * time.Millisecond})
	if _, err := c.Get(srv.URL + "/big"); err == nil {
		t.Error("an 8 KiB header passed a 4 KiB cap")
	}
	start := time.Now()
	_, err := c.Get(srv.URL + "/slow")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("slow server: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
}

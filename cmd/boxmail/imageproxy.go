package main

import (
	"log/slog"
	"net/netip"
	"strings"

	"boxmail/internal/webmail"
)

// envImageProxyAllow names loopback listeners (IP:port, comma-separated)
// the webmail's image proxy may fetch from over plain http: a hook for
// the browser tests (test/webmail_browser_read_test.go), never needed in
// production, where the proxy fetches https from public addresses only.
const envImageProxyAllow = "BOXMAIL_TEST_IMAGE_PROXY_ALLOW"

// webmailImageProxy is the image proxy's setting: the production one,
// unless envImageProxyAllow names loopback listeners.
func webmailImageProxy(getenv func(string) string, log *slog.Logger) webmail.ImageProxyOptions {
	v := getenv(envImageProxyAllow)
	if v == "" {
		return webmail.ImageProxyOptions{}
	}
	allowed := map[netip.AddrPort]bool{}
	for _, s := range strings.Split(v, ",") {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
		if err != nil || !ap.Addr().IsLoopback() {
			log.Error("ignored: not a loopback IP:port", "env", envImageProxyAllow, "value", s)
			continue
		}
		allowed[ap] = true
	}
	if len(allowed) == 0 {
		return webmail.ImageProxyOptions{}
	}
	log.Warn("test mode: the image proxy fetches over http from these loopback listeners", "env", envImageProxyAllow, "value", v)
	return webmail.ImageProxyOptions{AllowHTTP: true, Allow: func(ap netip.AddrPort) bool { return allowed[ap] }}
}

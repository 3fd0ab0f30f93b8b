package main

import (
	"bufio"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"

	"boxmail/internal/config"
)

// The web ports' refusal is a whole HTTP answer a browser shows.
func TestTheWebRefusalIsAnHTTPAnswer(t *testing.T) {
	res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(webRefusal())), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 503 || !res.Close || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "Too many connections") {
		t.Errorf("%s %v %q %v", res.Status, res.Header, body, err)
	}
}

// Every server's port has a flag, ManageSieve's included; a flag not
// given keeps the config's port.
func TestEveryPortHasAFlag(t *testing.T) {
	cfg := config.Default("mail.example.test")
	cfg.IMAPPort = 1143
	pf := portFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	pf.register(fs)
	if err := fs.Parse([]string{"--managesieve-port", "14190", "--smtp-port", "0"}); err != nil {
		t.Fatal(err)
	}
	pf.apply(&cfg)
	if cfg.Sieve.ManageSievePort != 14190 || cfg.SMTPPort != 0 || cfg.IMAPPort != 1143 {
		t.Errorf("after the flags: managesieve %d, smtp %d, imap %d", cfg.Sieve.ManageSievePort, cfg.SMTPPort, cfg.IMAPPort)
	}
	if err := fs.Parse([]string{"--pop3-port", "-1"}); err == nil {
		t.Error("a negative port was accepted")
	}
}

// 'quickstart -h' tells where a port comes from, never a default of -1.
func TestPortFlagsHelpSaysWhereThePortComesFrom(t *testing.T) {
	code, out, errs := runIn("quickstart", "-h")
	help := out + errs
	if code != 0 || strings.Contains(help, "-1") || !strings.Contains(help, "-managesieve-port N") || !strings.Contains(help, "default: as in boxmail.conf") {
		t.Errorf("quickstart -h (exit %d):\n%s", code, help)
	}
}

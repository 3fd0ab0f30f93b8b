package main

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
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

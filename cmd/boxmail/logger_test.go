package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"boxmail/internal/config"
)

// log_format picks slog's handler: JSON objects one a line, or text.
func TestLogFormatPicksTheHandler(t *testing.T) {
	cfg := config.Default("mail.example.test")
	var b bytes.Buffer
	cfg.LogFormat = "json"
	newLogger(&b, cfg).Info("started", "port", 25)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "started" || rec["port"] != float64(25) {
		t.Errorf("json log line %q: %v", b.String(), err)
	}
	b.Reset()
	cfg.LogFormat = "text"
	newLogger(&b, cfg).Debug("hidden")
	newLogger(&b, cfg).Info("started", "port", 25)
	if got := b.String(); !strings.Contains(got, "level=INFO msg=started port=25") || strings.Contains(got, "hidden") {
		t.Errorf("text log: %q", got)
	}
}

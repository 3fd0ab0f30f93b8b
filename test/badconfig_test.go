package test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateBadConfig = flag.Bool("update-badconfig", false, "rewrite test/badconfig/*/expected-error from what boxmail prints")

// TestBadConfigsGiveThePreciseErrorLine starts the real binary ('boxmail
// serve') on each test/badconfig/NN-name/boxmail.conf and compares the
// line the user sees with expected-error (the data dir written as DIR).
// Each config turns every server off, so a missed error binds no port;
// serve must exit 1 at once. go test ./test/ -run BadConfig
// -update-badconfig (or BOXMAIL_UPDATE_GOLDEN=1) rewrites the goldens.
func TestBadConfigsGiveThePreciseErrorLine(t *testing.T) {
	update := *updateBadConfig || os.Getenv("BOXMAIL_UPDATE_GOLDEN") != ""
	cases, err := filepath.Glob(filepath.Join("badconfig", "*", "boxmail.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("%d bad configs in test/badconfig, want at least 10", len(cases))
	}
	for _, conf := range cases {
		name := filepath.Base(filepath.Dir(conf))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "boxmail.conf"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runWithin(t, 30*time.Second, "", "serve", "--dir", dir)
			got := strings.ReplaceAll(strings.TrimSpace(stderr), dir, "DIR") + "\n"
			golden := filepath.Join(filepath.Dir(conf), "expected-error")
			if update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if got != string(want) {
				t.Errorf("boxmail serve printed\n%s want\n%s", got, want)
			}
		})
	}
}

package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// getMetrics returns the text of GET http://addr/metrics.
func getMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

// prometheus is a real Prometheus scraping one target every second.
type prometheus struct {
	t    *testing.T
	addr string // its HTTP API, on loopback
	log  *syncBuffer
}

// startPrometheus runs the Debian prometheus package's server with its
// own temporary storage, its web API on a free loopback port and one
// scrape job for target, and waits until it is ready.
func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: boxmail
    static_configs:
      - targets: ['%s']
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{t: t, addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0]), log: &syncBuffer{}}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+p.addr)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, p.log.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s\n%s", p.log.String())
		}
	}
}

// sample is one point of a query result.
type sample struct {
	at    float64
	value float64
}

// query runs a PromQL query through the HTTP API: an instant query when
// params has no "start", else a range query; it returns the first
// series' points (none when the result is empty).
func (p *prometheus) query(q string, params url.Values) []sample {
	p.t.Helper()
	if params == nil {
		params = url.Values{}
	}
	params.Set("query", q)
	path := "/api/v1/query"
	if params.Has("start") {
		path = "/api/v1/query_range"
	}
	resp, err := http.Get("http://" + p.addr + path + "?" + params.Encode())
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value  []any
				Values [][]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		p.t.Fatalf("query %s: %v %s %s", q, err, r.Status, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return nil
	}
	res := r.Data.Result[0]
	points := res.Values
	if res.Value != nil {
		points = [][]any{res.Value}
	}
	var out []sample
	for _, v := range points {
		f, err := strconv.ParseFloat(v[1].(string), 64)
		if err != nil {
			p.t.Fatalf("query %s: value %v", q, v[1])
		}
		out = append(out, sample{at: v[0].(float64), value: f})
	}
	return out
}

// waitFor polls an instant query until its value passes ok.
func (p *prometheus) waitFor(q string, ok func(float64) bool, within time.Duration) float64 {
	p.t.Helper()
	deadline := time.Now().Add(within)
	last := math.NaN()
	for time.Now().Before(deadline) {
		if s := p.query(q, nil); len(s) > 0 {
			if last = s[0].value; ok(last) {
				return last
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.t.Fatalf("%s is %v after %v\n%s", q, last, within, p.log.String())
	return last
}

// TestPrometheusSeesTheMailThatArrives is issue 21's acceptance test: a
// real Prometheus scrapes the box's /metrics every second while 200
// messages arrive over SMTP in about 20 seconds, and its increase() and
// rate() of boxmail_messages_received_total match what was sent.
func TestPrometheusSeesTheMailThatArrives(t *testing.T) {
	needTool(t, "prometheus")
	mport := testutil.FreePorts(t, 1)[0]
	maddr := fmt.Sprintf("127.0.0.1:%d", mport)
	b := newBoxWith(t, map[string]string{"metrics_listen": maddr})
	b.waitPort(mport)
	if m := getMetrics(t, maddr); !strings.Contains(m, `boxmail_messages_received_total{result="accepted"} 0`) || !strings.Contains(m, "boxmail_queue_messages 0") {
		t.Fatalf("a new box's metrics:\n%s", m)
	}
	p := startPrometheus(t, maddr)
	const series = `boxmail_messages_received_total{job="boxmail",result="accepted"}`
	p.waitFor(`count_over_time(`+series+`[1m])`, func(v float64) bool { return v >= 3 }, 30*time.Second) // scraped before the first message

	const n, every = 200, 100 * time.Millisecond
	start := time.Now()
	sent := 0
	for i := range n {
		msg := fmt.Sprintf("From: friend@elsewhere.example\r\nTo: me@example.test\r\nSubject: metrics %d\r\nMessage-ID: <m%d@elsewhere.example>\r\n\r\nmessage %d\r\n", i, i, i)
		if err := sendPlain(fmt.Sprintf("127.0.0.1:%d", b.SMTP), "friend@elsewhere.example", "me@example.test", msg); err != nil {
			t.Errorf("message %d: %v", i, err)
		} else {
			sent++
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * every)))
	}
	end := time.Now()
	if m := getMetrics(t, maddr); !strings.Contains(m, fmt.Sprintf(`boxmail_messages_received_total{result="accepted"} %d`, sent)) {
		t.Errorf("the box's own count is not %d:\n%s", sent, m)
	}
	// The last samples are in once Prometheus has scraped the final count.
	p.waitFor(series, func(v float64) bool { return v == float64(sent) }, 15*time.Second)

	// increase() over a window holding the whole stream: the series
	// starts at 0, so Prometheus does not extrapolate at the start, and
	// at the end by at most 1.1 scrape intervals at the stream's mean
	// rate (a few percent of the count).
	got := p.query(`increase(`+series+`[5m])`, nil)
	if len(got) == 0 {
		t.Fatal("no increase() result")
	}
	inc := got[0].value
	if inc < float64(sent)-0.5 || inc > float64(sent)*1.05+1 {
		t.Errorf("increase() = %.1f, sent %d", inc, sent)
	}
	// rate() over 5 s windows inside the stream: the send rate.
	mid := p.query(`rate(`+series+`[5s])`, url.Values{
		"start": {strconv.FormatInt(start.Add(7*time.Second).Unix(), 10)},
		"end":   {strconv.FormatInt(end.Add(-2*time.Second).Unix(), 10)},
		"step":  {"1"},
	})
	if len(mid) < 5 {
		t.Fatalf("rate() over the stream: %d points", len(mid))
	}
	var sum float64
	for _, s := range mid {
		sum += s.value
	}
	avg, want := sum/float64(len(mid)), float64(sent)/end.Sub(start).Seconds()
	if math.Abs(avg-want) > 0.2*want {
		t.Errorf("mean rate() inside the stream %.2f/s, sent %.2f/s (%v)", avg, want, mid)
	}
	t.Logf("sent %d in %v (%.2f/s); Prometheus: increase %.1f, mean rate %.2f/s over %d points", sent, end.Sub(start).Round(time.Millisecond), want, inc, avg, len(mid))
	// The store's group commit was timed and the stream's sessions closed.
	m := getMetrics(t, maddr)
	for _, want := range []string{`boxmail_sessions_open{protocol="smtp"} 0`, "boxmail_store_commit_seconds_count"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}

// TestQuickstartServesMetricsOnLoopback: quickstart's metrics listener
// (127.0.0.1:9154 for a new box; a free port here via --metrics-port)
// is in the banner and answers /metrics; logins are counted by protocol.
func TestQuickstartServesMetricsOnLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "boxmail-data")
	ports := testutil.FreePorts(t, 12)
	args := []string{"quickstart", "--dir", dir, "--metrics-port", fmt.Sprint(ports[11])}
	for i, name := range []string{"smtp", "submission", "submissions", "imap", "imaps", "dns", "http", "https", "pop3", "pop3s", "managesieve"} {
		args = append(args, "--"+name+"-port", fmt.Sprint(ports[i]))
	}
	cmd := exec.Command(binary, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	r := bufio.NewReader(stdout)
	var banner strings.Builder
	for !strings.Contains(banner.String(), "Ctrl-C") {
		line, err := r.ReadString('\n')
		banner.WriteString(line)
		if err != nil {
			t.Fatalf("quickstart output ended: %v\n%s", err, banner.String())
		}
	}
	maddr := fmt.Sprintf("127.0.0.1:%d", ports[11])
	if !strings.Contains(banner.String(), "http://"+maddr+"/metrics") {
		t.Errorf("the banner does not name the metrics listener:\n%s", banner.String())
	}
	conf, err := os.ReadFile(filepath.Join(dir, "boxmail.conf"))
	if err != nil || !strings.Contains(string(conf), "\nmetrics_listen = "+maddr+"\n") {
		t.Errorf("boxmail.conf does not keep metrics_listen = %s (%v)", maddr, err)
	}
	b := &Box{t: t, Dir: dir, IMAP: ports[3]}
	out, _ := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", ports[1]), "-tls", "--to", "me@example.test", "--from", "me@example.test",
		"--auth", "PLAIN", "--auth-user", "me@example.test", "--auth-password", "not-the-password", "--quit-after", "AUTH")
	if !strings.Contains(out, "535") {
		t.Errorf("a wrong password was not refused:\n%s", out)
	}
	m := getMetrics(t, maddr)
	for _, want := range []string{`boxmail_logins_total{protocol="submission",result="failed"} 1`, "boxmail_backup_age_seconds +Inf",
		"boxmail_tls_certificate_expiry_seconds ", "process_resident_memory_bytes "} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("quickstart did not exit cleanly: %v", err)
	}
}

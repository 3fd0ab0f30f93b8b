package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"boxmail/internal/spam"
)

// The optional rspamd adapter (SpamOptions.RspamdURL, config
// spam_rspamd_url; off by default): a box that already runs rspamd asks
// it too, and its verdict joins ours as one more reason; the training
// from moves into and out of Junk is forwarded to it. Our own small
// client of rspamd's HTTP protocol (POST /checkv2, /learnspam, /learnham
// of its controller, which answers all three): every call is
// time-capped, its answer size-capped, and a failure leaves our own
// verdict alone (the message is never held up or refused for it).

// Bounds of the rspamd client.
const (
	rspamdTimeout = 3 * time.Second
	// rspamdMaxAnswer caps the answer read (a verdict's JSON with its
	// symbols is a few KiB).
	rspamdMaxAnswer = 256 << 10
	// rspamdMaxSend: larger messages are not sent (rspamd's own default
	// cap is 50 MB; big mail is rarely spam and costs the most to send).
	rspamdMaxSend = 2 << 20
	// rspamdForwardQueue bounds the trainings waiting to be forwarded;
	// past it they are dropped (and counted), so a slow or absent rspamd
	// never holds the trainer or its memory.
	rspamdForwardQueue = 256
)

// rspamdClient talks to one rspamd.
type rspamdClient struct {
	base    string // without a trailing slash
	hc      *http.Client
	timeout time.Duration // of each call (rspamdTimeout)
	log     *slog.Logger

	fwd     chan rspamdLearn
	mu      sync.Mutex
	dropped int
	stop    chan struct{}
	done    chan struct{}
}

type rspamdLearn struct {
	data []byte
	spam bool
}

func newRspamdClient(base string, log *slog.Logger) *rspamdClient {
	return &rspamdClient{base: strings.TrimRight(base, "/"), log: log, timeout: rspamdTimeout,
		hc:  &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		fwd: make(chan rspamdLearn, rspamdForwardQueue)}
}

// rspamdVerdict is the part of /checkv2's answer we read.
type rspamdVerdict struct {
	Score         float64 `json:"score"`
	RequiredScore float64 `json:"required_score"`
	Action        string  `json:"action"`
	IsSkipped     bool    `json:"is_skipped"`
}

// rspamdEnvelope is what rspamd is told of a message's transport.
type rspamdEnvelope struct {
	IP     netip.Addr
	From   string
	Rcpts  []string
	Helo   string
	Authed bool
}

// post sends body to path and decodes a JSON answer into out (nil: only
// the status counts).
func (c *rspamdClient) post(ctx context.Context, path string, body []byte, hdr http.Header, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }() // read to its cap below; a close error changes nothing
	data, err := io.ReadAll(io.LimitReader(res.Body, rspamdMaxAnswer+1))
	if err != nil {
		return err
	}
	if len(data) > rspamdMaxAnswer {
		return fmt.Errorf("rspamd %s: answer over %d bytes", path, rspamdMaxAnswer)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("rspamd %s: %s", path, res.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("rspamd %s: %w", path, err)
	}
	return nil
}

// check asks rspamd for its verdict on a message.
func (c *rspamdClient) check(ctx context.Context, data []byte, env rspamdEnvelope) (rspamdVerdict, error) {
	var v rspamdVerdict
	if len(data) > rspamdMaxSend {
		return v, errRspamdTooBig
	}
	h := http.Header{}
	h.Set("Pass", "all")
	if env.IP.IsValid() {
		h.Set("IP", env.IP.Unmap().String())
	}
	if env.From != "" {
		h.Set("From", env.From)
	}
	for _, r := range env.Rcpts {
		h.Add("Rcpt", r)
	}
	if env.Helo != "" {
		h.Set("Helo", env.Helo)
	}
	err := c.post(ctx, "/checkv2", data, h, &v)
	if err == nil && (math.IsNaN(v.Score) || math.IsInf(v.Score, 0)) {
		err = errors.New("rspamd /checkv2: no score")
	}
	return v, err
}

var errRspamdTooBig = errors.New("too large to send to rspamd")

// rspamdReason turns rspamd's verdict into our reason: its score halved,
// between -4 and +8 points, so rspamd's "add header" (6 by default) adds
// 3 and rspamd alone moves mail to Junk only when it would refuse it
// (15: 7.5 points); with our own evidence it tips the balance.
func rspamdReason(v rspamdVerdict) (spam.Reason, bool) {
	if v.IsSkipped {
		return spam.Reason{}, false
	}
	pts := math.Round(min(max(v.Score/2, -4), 8)*100) / 100
	return spam.Reason{Name: "rspamd", Points: pts, Detail: fmt.Sprintf("%.2f, %s", v.Score, safeAction(v.Action))}, true
}

// safeAction keeps an action name fit for a header field.
func safeAction(a string) string {
	a = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == ' ' || r == '-' {
			return r
		}
		return -1
	}, a)
	return a[:min(len(a), 20)]
}

// forward queues a training for rspamd; a full queue drops it.
func (c *rspamdClient) forward(data []byte, isSpam bool) {
	if len(data) > rspamdMaxSend {
		return
	}
	select {
	case c.fwd <- rspamdLearn{data: data, spam: isSpam}:
	default:
		c.mu.Lock()
		c.dropped++
		c.mu.Unlock()
	}
}

// start runs the forwarder until stopForwarder.
func (c *rspamdClient) start() {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-c.stop
		cancel()
	}()
	go func() {
		defer close(c.done)
		failed := 0
		for {
			select {
			case <-c.stop:
				return
			case l := <-c.fwd:
				path := "/learnham"
				if l.spam {
					path = "/learnspam"
				}
				if err := c.post(ctx, path, l.data, nil, nil); err != nil {
					failed++
					if failed == 1 || failed%100 == 0 {
						c.log.Warn("forwarding training to rspamd", "err", err, "failed", failed)
					}
				}
			}
			c.mu.Lock()
			if c.dropped > 0 {
				c.log.Warn("rspamd training queue full: trainings not forwarded", "dropped", c.dropped)
				c.dropped = 0
			}
			c.mu.Unlock()
		}
	}()
}

// stopForwarder stops the forwarder (what waits is not forwarded).
func (c *rspamdClient) stopForwarder() {
	if c.stop == nil {
		return
	}
	close(c.stop)
	<-c.done
}

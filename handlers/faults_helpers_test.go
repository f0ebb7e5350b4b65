package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scar-dev/scar/dockerops"
)

// utf8Wire is the bot's HTTP transport in a test: it checks that every JSON request to
// the Bot API is valid UTF-8, as Telegram requires, before passing it on. The fake
// cannot tell: its JSON decoder replaces invalid bytes silently.
type utf8Wire struct {
	mu  sync.Mutex
	bad []string
}

func (w *utf8Wire) RoundTrip(req *http.Request) (*http.Response, error) {
	media, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	// A document's bytes are the file's own; multipart requests are not text.
	if req.Body != nil && media != "multipart/form-data" {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(body) {
			w.mu.Lock()
			w.bad = append(w.bad, req.URL.Path[len(req.URL.Path)-min(len(req.URL.Path), 20):])
			w.mu.Unlock()
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(req)
}

// invalid returns the methods (path tails) of requests with invalid UTF-8.
func (w *utf8Wire) invalid() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bad...)
}

// postWebhook posts an update with secret to the webhook at url, from any goroutine.
func postWebhook(url, secret string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(secretHeader, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// liftCommandLimit moves the command limiter's clock a second on at every look, so
// that every command finds a fresh token: for tests that send many commands.
func liftCommandLimit(h *harness) {
	var tick atomic.Int64
	h.bot.access.now = func() time.Time { return time.Unix(tick.Add(1), 0) }
}

// countOperations makes every operation and deploy call of the harness count itself
// before doing what it did; the counter says whether anything ran.
func countOperations(h *harness) *atomic.Int32 {
	var n atomic.Int32
	status, logs, restart := h.ops.StatusFn, h.ops.LogsFn, h.ops.RestartFn
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		n.Add(1)
		return status(ctx, project)
	}
	h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
		n.Add(1)
		return logs(ctx, project, req)
	}
	h.ops.RestartFn = func(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
		n.Add(1)
		return restart(ctx, project, req, who, progress)
	}
	plan, planRollback := h.deploys.PlanDeployFn, h.deploys.PlanRollbackFn
	h.deploys.PlanDeployFn = func(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
		n.Add(1)
		return plan(ctx, project)
	}
	h.deploys.PlanRollbackFn = func(ctx context.Context, project string) (*dockerops.Deployment, error) {
		n.Add(1)
		return planRollback(ctx, project)
	}
	h.deploys.DeployFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		n.Add(1)
		return nil, errors.New("deploy ran")
	}
	h.deploys.RollbackFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		n.Add(1)
		return nil, errors.New("rollback ran")
	}
	return &n
}

// switchableProxy forwards to a server and can be taken down — listener and open
// connections closed, so that calls are refused — and brought up again on the same
// address, as a Bot API outage looks from scar.
type switchableProxy struct {
	t      *testing.T
	addr   string
	target *url.URL

	mu  sync.Mutex
	srv *http.Server
}

func newSwitchableProxy(t *testing.T, target string) *switchableProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &switchableProxy{t: t, target: u, addr: "127.0.0.1:0"}
	p.up()
	t.Cleanup(p.down)
	return p
}

// URL is the proxy's address.
func (p *switchableProxy) URL() string { return "http://" + p.addr }

// up listens again on the proxy's address.
func (p *switchableProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen on %s: %v", p.addr, err)
	}
	p.addr = ln.Addr().String()
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(p.target)}
	go srv.Serve(ln)
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
}

// down closes the listener and every connection.
func (p *switchableProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		p.srv.Close()
		p.srv = nil
	}
}

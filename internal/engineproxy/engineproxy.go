// Package engineproxy stands between scar and the Docker Engine in tests: a unix
// socket that forwards every request to the real engine, that can be stopped and
// started again on the same path (the daemon going away and coming back), and that
// can hold each request to a policy — an allowlist of Engine API endpoints — answering
// 403 to anything outside it and recording every request it saw.
//
// Point scar at it with DOCKER_HOST=p.Host(). Requests are parsed one by one; an
// upgraded connection (attach, exec, BuildKit sessions) is spliced byte for byte
// after its upgrade request passed the policy, since nothing after it is HTTP.
// Responses always stream straight through, so logs, events and builds arrive as the
// engine sends them.
package engineproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Request is one request the proxy saw.
type Request struct {
	Method string
	// Path is the URL path without the API version prefix (/v1.41) and the query.
	Path      string
	UserAgent string
	// Allowed is false when the policy refused it (it was answered 403).
	Allowed bool
}

func (r Request) String() string {
	return fmt.Sprintf("%s %s (%s)", r.Method, r.Path, r.UserAgent)
}

// Policy decides whether a request may reach the engine. It gets the request with
// its path already stripped of the API version (see Unversioned).
type Policy func(r Request) bool

// Hook runs for each allowed request before it is forwarded; tests block in it to
// hold an operation in flight. ctx ends when the proxy stops, and the hook must
// return then.
type Hook func(ctx context.Context, r Request)

// Option configures a Proxy.
type Option func(*Proxy)

// WithPolicy refuses, with 403, every request policy does not allow.
func WithPolicy(policy Policy) Option { return func(p *Proxy) { p.policy = policy } }

// WithHook runs hook for each allowed request before forwarding it.
func WithHook(hook Hook) Option { return func(p *Proxy) { p.hook = hook } }

// WithUpstream forwards to the engine's unix socket at path instead of the one
// DOCKER_HOST names (or the default socket).
func WithUpstream(path string) Option { return func(p *Proxy) { p.upstream = path } }

// Proxy is a running (or stopped) proxy; its methods are safe for concurrent use.
type Proxy struct {
	path     string
	upstream string
	policy   Policy
	hook     Hook

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	stopCtx  context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	requests []Request
}

// New starts a proxy on a fresh socket and stops it when the test ends. The socket's
// directory is short-named under the system temp directory: a unix socket path must
// fit in 108 bytes, which a nested t.TempDir() can outgrow.
func New(tb testing.TB, opts ...Option) *Proxy {
	tb.Helper()
	dir, err := os.MkdirTemp("", "scar-ep-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	p := &Proxy{path: filepath.Join(dir, "docker.sock"), conns: map[net.Conn]struct{}{}}
	for _, o := range opts {
		o(p)
	}
	if p.upstream == "" {
		if p.upstream, err = upstreamSocket(); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(p.Stop)
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	return p
}

// upstreamSocket is the socket DOCKER_HOST names, or the default one.
func upstreamSocket() (string, error) {
	host := os.Getenv(client.EnvOverrideHost)
	if host == "" {
		host = client.DefaultDockerHost
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return "", fmt.Errorf("engineproxy: DOCKER_HOST %q is not a unix socket", host)
	}
	return path, nil
}

// Host is the DOCKER_HOST value that reaches the engine through the proxy.
func (p *Proxy) Host() string { return "unix://" + p.path }

// Path is the proxy's socket path.
func (p *Proxy) Path() string { return p.path }

// Start listens on the proxy's socket: the daemon is back. Starting a running proxy
// does nothing.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		return fmt.Errorf("engineproxy: listen on %s: %w", p.path, err)
	}
	p.ln = ln
	p.stopCtx, p.stop = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// Stop closes the socket (its file goes with it) and every connection through it,
// in the middle of whatever they carry, and waits until all are closed: the daemon
// is gone. Stopping a stopped proxy does nothing.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		return
	}
	p.ln.Close()
	p.ln = nil
	p.stop()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Requests returns every request seen so far, in order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// Denied returns the requests the policy refused.
func (p *Proxy) Denied() []Request {
	var out []Request
	for _, r := range p.Requests() {
		if !r.Allowed {
			out = append(out, r)
		}
	}
	return out
}

// Seen reports whether a request with this method and unversioned path matched by
// pattern (see Rule) was seen.
func (p *Proxy) Seen(method, pattern string) bool {
	rule := Rule{Method: method, Path: pattern}
	for _, r := range p.Requests() {
		if rule.Matches(r.Method, r.Path) {
			return true
		}
	}
	return false
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.ln != ln { // stopped between Accept and here
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		ctx := p.stopCtx
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			p.serve(ctx, c)
			p.forget(c)
		}()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) forget(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	p.requests = append(p.requests, r)
	p.mu.Unlock()
}

// serve carries one client connection: requests parsed and checked one by one on
// the way in, responses spliced on the way out.
func (p *Proxy) serve(ctx context.Context, c net.Conn) {
	up, err := net.DialTimeout("unix", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.forget(up)
	out := make(chan struct{})
	go func() {
		defer close(out)
		io.Copy(c, up)
		closeWrite(c)
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			closeWrite(up)
			break
		}
		r := Request{Method: req.Method, Path: Unversioned(req.URL.Path), UserAgent: req.UserAgent(), Allowed: true}
		if p.policy != nil && !p.policy(r) {
			r.Allowed = false
			p.record(r)
			refuse(c, req, r)
			return
		}
		p.record(r)
		if p.hook != nil {
			p.hook(ctx, r)
		}
		if err := req.Write(up); err != nil {
			break
		}
		if req.Header.Get("Upgrade") != "" {
			// Hijacked from here on: raw bytes both ways, the rest of the buffer first.
			io.Copy(up, br)
			closeWrite(up)
			break
		}
	}
	<-out
}

// refuse answers 403 and closes the connection. The request body is read first, so
// that the client, still sending it, sees the answer rather than a broken pipe.
func refuse(c net.Conn, req *http.Request, r Request) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, io.LimitReader(req.Body, 1<<30))
	body := fmt.Sprintf("{\"message\":\"engineproxy: %s %s is not on the allowlist\"}\n", r.Method, r.Path)
	fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	c.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	c.Close()
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/|$)`)

// Unversioned strips the API version prefix from an Engine API path:
// /v1.41/containers/json → /containers/json.
func Unversioned(path string) string {
	if loc := versionPrefix.FindStringIndex(path); loc != nil {
		return "/" + path[loc[1]:]
	}
	return path
}

// Rule allows one method on a path pattern. In Path, {name} matches one path segment
// and {name...} one or more (image names hold slashes); everything else is literal.
type Rule struct {
	Method string
	Path   string
}

// Matches reports whether the rule allows method on the unversioned path.
func (r Rule) Matches(method, path string) bool {
	return r.Method == method && matchSegments(strings.Split(strings.Trim(r.Path, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/"))
}

func matchSegments(pattern, path []string) bool {
	if len(pattern) == 0 {
		return len(path) == 0
	}
	seg := pattern[0]
	if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}") {
		for n := 1; n <= len(path); n++ {
			if !slicesHaveEmpty(path[:n]) && matchSegments(pattern[1:], path[n:]) {
				return true
			}
		}
		return false
	}
	if len(path) == 0 {
		return false
	}
	if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
		return path[0] != "" && matchSegments(pattern[1:], path[1:])
	}
	return seg == path[0] && matchSegments(pattern[1:], path[1:])
}

func slicesHaveEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

// Allowlist is a set of rules; a request is allowed when one matches.
type Allowlist []Rule

// Allows reports whether a rule matches method on the unversioned path.
func (a Allowlist) Allows(method, path string) bool {
	for _, r := range a {
		if r.Matches(method, path) {
			return true
		}
	}
	return false
}

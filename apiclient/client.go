// Package apiclient is a Go client of scar's REST API (/api/v1): the one the scar
// commands (scar status, logs, deploy, ...) use, and one other Go programs can use too.
// Its answers are the dockerops types the server encodes; an error the server answered
// is an *Error with its HTTP status, code and message; a server that cannot be reached
// is ErrUnreachable.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/scar-dev/scar/dockerops"
)

// ErrUnreachable: no answer came from the server (wrong URL, scar down, a network
// error). Match it with errors.Is.
var ErrUnreachable = errors.New("cannot reach scar")

// Error is an error the server answered: {"error": {"code": "...", "message": "..."}}.
type Error struct {
	// Status is the HTTP status (401, 403, 404, 409, ...).
	Status int
	// Code is the server's error code (unauthorized, forbidden, unknown_project, busy, ...).
	Code string
	// Message is the server's message, written for a person.
	Message string

	// result is, with code restart_failed, stop_failed or start_failed, the
	// per-container result beside the error.
	result *dockerops.RestartResult
}

// Error returns the server's message, which already says what went wrong
// ("busy: deploy of demo by api:full-1a2b3c4d since ...").
func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return e.Message
}

// Client talks to one scar server with one bearer token. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (timeouts, TLS, proxies).
// A follow and an event stream last as long as their context: hc should have no
// overall Timeout for them.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// New returns a client of the scar at baseURL ("http://127.0.0.1:8080", a path prefix
// allowed when scar is behind a proxy) that sends token as its bearer token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("apiclient: server URL %q: want http:// or https:// and a host", baseURL)
	}
	c := &Client{base: u, token: token, http: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL is the server's base URL, as given to New.
func (c *Client) URL() string { return c.base.String() }

// request builds a request of path (escaped, see projectPath) under /api/v1 with the
// token and, when body is not nil, its JSON.
func (c *Client) request(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + "/api/v1" + path
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %s %s: %w", method, path, err)
	}
	u.Path = unescaped
	u.RawQuery = query.Encode()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("apiclient: encoding the request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, nil
}

// send sends req. An answer of 400 or more is returned as an *Error, its body read
// and closed; otherwise the caller closes the body.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.base.Redacted(), unwrapURLError(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, errorFrom(resp)
	}
	return resp, nil
}

// unwrapURLError drops url.Error's "Get \"http://...\":" prefix: the URL is said once.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// errorFrom reads the server's error answer. An answer that is not scar's JSON (a
// proxy's page) still gives an *Error with the status.
func errorFrom(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		if containersFailed(e.Code) {
			var res dockerops.RestartResult
			if json.Unmarshal(b, &res) == nil {
				e.result = &res
			}
		}
		return e
	}
	e.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(resp.StatusCode)), " ", "_")
	e.Message = fmt.Sprintf("HTTP %d from %s (not an answer of scar: is the URL right?)", resp.StatusCode, resp.Request.URL.Redacted())
	return e
}

// do sends a request and decodes its JSON answer into out (nil: the body is dropped).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	req, err := c.request(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decode(resp, method, path, out)
}

func decode(resp *http.Response, method, path string, out any) error {
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("apiclient: %s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// projectPath is /projects/{project}/{rest}, the name escaped.
func projectPath(project, rest string) string {
	return "/projects/" + url.PathEscape(project) + "/" + rest
}

package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// feedFollower answers every follow with a feed the test writes.
type feedFollower struct {
	mu      sync.Mutex
	lines   chan dockerops.FollowLine
	stopped chan struct{}
	reason  string
	got     []dockerops.FollowRequest
}

func newFeedFollower() *feedFollower {
	return &feedFollower{lines: make(chan dockerops.FollowLine), stopped: make(chan struct{})}
}

func (ff *feedFollower) FollowLogs(_ context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error) {
	ff.mu.Lock()
	ff.got = append(ff.got, req)
	ff.mu.Unlock()
	var once sync.Once
	stop := func() { once.Do(func() { close(ff.stopped) }) }
	reason := func() string { ff.mu.Lock(); defer ff.mu.Unlock(); return ff.reason }
	return dockerops.NewFollow(project, []string{"demo-web-1"}, ff.lines, stop, reason), nil
}

// end closes the feed with reason, as a follow that ended by itself.
func (ff *feedFollower) end(reason string) {
	ff.mu.Lock()
	ff.reason = reason
	ff.mu.Unlock()
	close(ff.lines)
}

func followGet(t *testing.T, ctx context.Context, base, path, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Both formats write each line, note and end as README says, the time limit
// reaches the follow, and the follow holds one of its token's in-flight slots.
func TestRESTFollowFormats(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	feed := []dockerops.FollowLine{
		{Time: at, Container: "demo-web-1", Stream: "stdout", Text: "hello"},
		{Time: at, Container: "demo-web-1", Text: "demo-web-1 restarted", Note: true},
		{Time: at, Text: "follow ended: the reader fell behind", Note: true},
	}
	tests := []struct {
		name, query, accept, want string
	}{
		{"text, every container", "", "", "demo-web-1 | 2026-11-28T10:00:00.123456789Z hello\n" +
			"demo-web-1 | [scar: demo-web-1 restarted]\n" +
			"[scar: follow ended: the reader fell behind]\n"},
		{"text, one container", "&container=web", "text/plain", "2026-11-28T10:00:00.123456789Z hello\n" +
			"[scar: demo-web-1 restarted]\n" +
			"[scar: follow ended: the reader fell behind]\n"},
		{"events", "", "text/event-stream", "event: line\ndata: {\"time\":\"2026-11-28T10:00:00.123456789Z\",\"container\":\"demo-web-1\",\"stream\":\"stdout\",\"text\":\"hello\"}\n\n" +
			"event: note\ndata: {\"time\":\"2026-11-28T10:00:00.123456789Z\",\"container\":\"demo-web-1\",\"text\":\"demo-web-1 restarted\",\"note\":true}\n\n" +
			"event: note\ndata: {\"time\":\"2026-11-28T10:00:00.123456789Z\",\"container\":\"\",\"text\":\"follow ended: the reader fell behind\",\"note\":true}\n\n" +
			"event: end\ndata: {\"reason\":\"the reader fell behind\"}\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ff := newFeedFollower()
			d := testDeps(t, nil)
			d.Follows, d.FollowMax, d.MaxInFlightPerToken = ff, 90*time.Minute, 1
			srv := httptest.NewServer(NewServer(d))
			t.Cleanup(srv.Close)
			resp := followGet(t, t.Context(), srv.URL, "/api/v1/projects/demo/logs?follow=true&lines=5"+tc.query, tc.accept)
			defer resp.Body.Close()
			wantType := "text/plain; charset=utf-8"
			if tc.accept == "text/event-stream" {
				wantType = "text/event-stream"
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType || resp.Header.Get("X-Accel-Buffering") != "no" {
				t.Fatalf("%d %q %q, want 200 %q unbuffered", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Accel-Buffering"), wantType)
			}
			busy := followGet(t, t.Context(), srv.URL, "/api/v1/projects", "")
			busy.Body.Close()
			if busy.StatusCode != http.StatusTooManyRequests {
				t.Errorf("a request beside an open follow with a bound of 1: %d, want 429", busy.StatusCode)
			}
			for _, l := range feed {
				ff.lines <- l
			}
			ff.end(dockerops.FollowFellBehind)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.want {
				t.Errorf("body:\n%s\nwant:\n%s", body, tc.want)
			}
			if got := ff.got[0]; got.MaxDuration != 90*time.Minute || got.Lines != 5 {
				t.Errorf("follow asked with %+v, want the time limit 1h30m and 5 lines", got)
			}
		})
	}
}

// A follow ends when scar stops, saying so, and when the client goes away; either
// way the follow is stopped and the handler returns (its in-flight slot is free).
func TestRESTFollowEndsWithScarAndWithTheClient(t *testing.T) {
	for _, ending := range []string{"scar stops", "client goes away"} {
		t.Run(ending, func(t *testing.T) {
			ff := newFeedFollower()
			stop := make(chan struct{})
			d := testDeps(t, nil)
			d.Follows, d.Stop, d.MaxInFlightPerToken = ff, stop, 1
			srv := httptest.NewServer(NewServer(d))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			resp := followGet(t, ctx, srv.URL, "/api/v1/projects/demo/logs?follow=1", "")
			defer resp.Body.Close()
			body := bufio.NewReader(resp.Body)
			ff.lines <- dockerops.FollowLine{Time: time.Now(), Container: "demo-web-1", Text: "one"}
			if line, err := body.ReadString('\n'); err != nil || !strings.HasSuffix(line, " one\n") {
				t.Fatalf("first line %q (%v)", line, err)
			}
			if ending == "scar stops" {
				close(stop)
			} else {
				cancel()
			}
			select {
			case <-ff.stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("the follow was not stopped")
			}
			close(ff.lines) // the follow ends, as a stopped one does
			if ending == "scar stops" {
				rest, _ := io.ReadAll(body)
				if string(rest) != "[scar: follow ended: scar is stopping]\n" {
					t.Errorf("the stream ended with %q, want the line that scar is stopping", rest)
				}
			}
			dockertest.WaitFor(t, 30*time.Second, func() bool {
				r := followGet(t, t.Context(), srv.URL, "/api/v1/projects", "")
				r.Body.Close()
				return r.StatusCode == 200
			})
		})
	}
}

// The real thing: a line the container writes arrives in both formats, prefixed by
// its container in text when every container is followed; bad input is the logs
// request's 400 (or 404 for a container), with no stream; a client that goes away
// leaves no goroutine behind. Not parallel: it counts goroutines.
func TestRESTFollowOnTheEngine(t *testing.T) {
	cp := dockertest.UniqueName(t, "restfollow")
	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	s := newEngineServer(t, cp, func(d *Deps) {
		d.Ops = dockerops.New(engine, d.Projects.(*projects.Store), d.Metrics, nil)
		d.EventsKeepAlive = time.Second
	})
	s.run(t, cp, "web", "LOG_LINES=2", "TICK_EVERY=100ms")
	name := cp + "-web-1"

	for _, tc := range []struct {
		query, status, code string
	}{
		{"since=yesterday", "400", "bad_input"},
		{"grep=" + url.QueryEscape("a\nb"), "400", "bad_input"},
		{"lines=0", "400", "bad_input"},
		{"follow=maybe", "400", "bad_input"},
		{"container=nosuch", "404", "not_found"},
	} {
		q := "follow=true&" + tc.query
		if strings.HasPrefix(tc.query, "follow=") {
			q = tc.query
		}
		resp, body, err := s.call(t, t.Context(), "GET", "/api/v1/projects/app/logs?"+q, "text/event-stream")
		if err != nil {
			t.Fatal(err)
		}
		var e errorBody
		if err := json.Unmarshal(body, &e); err != nil || resp.Status[:3] != tc.status || e.Error.Code != tc.code {
			t.Errorf("%s: %s %s, want %s %s before any stream", q, resp.Status, body, tc.status, tc.code)
		}
	}

	hc := &http.Client{Transport: &http.Transport{}}
	settled := func() int {
		hc.CloseIdleConnections()
		engine.Close() // idle keep-alive connections hold goroutines of their own
		return runtime.NumGoroutine()
	}
	before := settled()
	for _, tc := range []struct{ name, query, accept, prefix string }{
		{"text, every container", "", "", name + " | "},
		{"text, one container", "&container=web", "text/plain", ""},
		{"events", "", "text/event-stream", "data: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/projects/app/logs?follow=true&lines=1"+tc.query, nil)
			req.Header.Set("Authorization", "Bearer "+fullToken)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := bufio.NewReader(resp.Body)
			var latency time.Duration
			for {
				line, err := body.ReadString('\n')
				if err != nil {
					t.Fatalf("the stream ended: %v", err)
				}
				if !strings.HasPrefix(line, tc.prefix) || !strings.Contains(line, "tick ") {
					continue
				}
				text := strings.TrimSuffix(strings.TrimPrefix(line, tc.prefix), "\n")
				if tc.accept == "text/event-stream" {
					var l dockerops.FollowLine
					if err := json.Unmarshal([]byte(text), &l); err != nil || l.Container != name || l.Stream != "stdout" {
						t.Fatalf("event data %q (%v), want a FollowLine of %s", text, err, name)
					}
					text = l.Time.UTC().Format(time.RFC3339Nano) + " " + l.Text
				}
				f := strings.Fields(text) // <time> tick N <written>
				if len(f) != 4 {
					t.Fatalf("line %q", line)
				}
				written, err := time.Parse(time.RFC3339Nano, f[3])
				if err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				latency = time.Since(written)
				break
			}
			t.Logf("line written → received over REST (%s): %s (acceptance: within 1s)", tc.name, latency)
		})
	}
	// Every client is gone: the follows, their handlers and their goroutines with them.
	var now int
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		now = settled()
		return now <= before
	})
}

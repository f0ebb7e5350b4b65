package main

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An open event stream neither keeps scar from stopping nor is cut without a word:
// the shutdown ends it with a comment, and scar stops at once rather than after its
// grace period.
func TestServeEventStreamEndsAtShutdown(t *testing.T) {
	const token = "test-token-0123456789"
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFile(t, ""), "DOCKER_HOST=unix:///nonexistent/docker.sock",
		"SCAR_API_TOKENS="+token)
	req, _ := http.NewRequest("GET", s.url+"/api/v1/events?project=demo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	// Bounded, so that a stream the shutdown does not end fails the test, not hangs it.
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body := bufio.NewReader(resp.Body)
	if line, err := body.ReadString('\n'); err != nil || !strings.HasPrefix(line, ": scar event stream") {
		t.Fatalf("first line %q (%v), want the stream's opening comment", line, err)
	}

	start := time.Now()
	s.cancel()
	var rest strings.Builder
	for {
		line, err := body.ReadString('\n')
		rest.WriteString(line)
		if err != nil {
			break
		}
	}
	if !strings.Contains(rest.String(), ": scar is stopping; reconnect later\n") {
		t.Errorf("the stream ended with %q, want the comment that scar is stopping", rest.String())
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v after a clean shutdown", err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("scar did not stop")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("scar took %s to stop with an event stream open; want seconds, not the grace period", took)
	}
	s.done <- nil // for the cleanup
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines to write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// projectsFile writes a projects file for one project with real directories.
func projectsFile(t testing.TB, body string) string {
	t.Helper()
	dir := t.TempDir()
	if body == "" {
		ws, prod := filepath.Join(dir, "ws"), filepath.Join(dir, "prod")
		os.Mkdir(ws, 0o755)
		os.Mkdir(prod, 0o755)
		body = fmt.Sprintf(`{"demo": {"workspace": %q, "production": %q, "compose_project": "scarcmdtest", "auto_detect": true}}`, ws, prod)
	}
	path := filepath.Join(dir, "projects.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// server is a scar started by run in this process.
type server struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

// startServe runs `scar serve` with env (plus a free port and a state dir) and waits
// until it listens.
func startServe(t *testing.T, env ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	env = append([]string{"SCAR_LISTEN_ADDR=127.0.0.1:0", "SCAR_STATE_DIR=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	go func() { s.done <- run(ctx, []string{"serve"}, env, io.Discard, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(40 * time.Second):
			t.Error("scar did not stop within 40s of its context ending")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "scar serving" {
				s.url = "http://" + line.Addr
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("scar stopped at start: %v\n%s", err, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("scar did not start listening:\n%s", s.logs.String())
	return nil
}

func (s *server) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "scar ") {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	good := projectsFile(t, "")
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"missing projects file", []string{"SCAR_PROJECTS_FILE=/nonexistent/p.json"}, "/nonexistent/p.json"},
		{"invalid JSON", []string{"SCAR_PROJECTS_FILE=" + projectsFile(t, `{"a": {`)}, "projects file"},
		{"unknown key", []string{"SCAR_PROJECTS_FILE=" + projectsFile(t, `{"po": {"workspace": "/w", "production": "/p", "compose_project": "po", "containrs": []}}`)}, `"containrs"`},
		{"bad duration", []string{"SCAR_PROJECTS_FILE=" + projectsFile(t, `{"po": {"workspace": "/w", "production": "/p", "compose_project": "po", "health_timeout": "soon"}}`)}, "health_timeout"},
		{"bad confirm ttl", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_CONFIRM_TTL=forever"}, "SCAR_CONFIRM_TTL"},
		{"unwritable state dir", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_STATE_DIR=/proc/scar"}, "/proc/scar"},
		{"webhook without secret", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_TOKEN=123:abc"}, "SCAR_TELEGRAM_WEBHOOK_SECRET"},
		{"webhook secret with a space", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_TOKEN=123:abc", "SCAR_TELEGRAM_WEBHOOK_SECRET=my secret"}, "SCAR_TELEGRAM_WEBHOOK_SECRET: Telegram accepts 1-256 characters"},
		{"webhook secret with a colon", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_TOKEN=123:abc", "SCAR_TELEGRAM_WEBHOOK_SECRET=a:b"}, "position 2"},
		{"webhook secret too long", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_TOKEN=123:abc", "SCAR_TELEGRAM_WEBHOOK_SECRET=" + strings.Repeat("a", 257)}, "257 characters"},
		{"bad allowed chats", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_ALLOWED_CHATS=-100123,ops"}, `SCAR_TELEGRAM_ALLOWED_CHATS: "ops" is not a whole number`},
		{"user id as allowed chat", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_ALLOWED_CHATS=-100123,42"}, "SCAR_TELEGRAM_ALLOWED_CHATS: 42 is not a group chat id"},
		{"bad mode", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TELEGRAM_MODE=carrier-pigeon"}, "SCAR_TELEGRAM_MODE"},
		{"short token", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_API_TOKENS=short"}, "16 characters"},
		{"bad proxy", []string{"SCAR_PROJECTS_FILE=" + good, "SCAR_TRUSTED_PROXIES=10.0.0.0/99"}, "SCAR_TRUSTED_PROXIES"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"SCAR_LISTEN_ADDR=127.0.0.1:0", "SCAR_STATE_DIR=" + t.TempDir()}, tc.env...)
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, env, io.Discard, &logs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v; want an error naming %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "goroutine ") {
				t.Errorf("error looks like a stack trace: %v", err)
			}
		})
	}
}

func TestServeWithDockerDownAndGracefulShutdown(t *testing.T) {
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFile(t, ""), "DOCKER_HOST=unix:///nonexistent/docker.sock",
		"SCAR_API_TOKENS=test-token-0123456789")
	if code, _ := s.get(t, "/healthz", ""); code != 200 {
		t.Errorf("healthz %d with Docker down; scar is alive", code)
	}
	start := time.Now()
	if code, body := s.get(t, "/readyz", ""); code != 503 || !strings.Contains(body, "docker unavailable") {
		t.Errorf("readyz %d %s, want 503 naming Docker", code, body)
	}
	if code, body := s.get(t, "/api/v1/projects/demo/status", "test-token-0123456789"); code != 503 || !strings.Contains(body, "docker_unavailable") {
		t.Errorf("status with Docker down: %d %s, want 503 docker_unavailable", code, body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("answers with Docker down took %s; want seconds", took)
	}

	// A request in flight when SIGTERM arrives still gets its answer.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.url+"/api/v1/projects/nope/restart", pr)
	req.Header.Set("Authorization", "Bearer test-token-0123456789")
	req.ContentLength = 2
	answered := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	pw.Write([]byte("{"))
	time.Sleep(100 * time.Millisecond) // let the request reach the handler before the stop
	s.cancel()
	pw.Write([]byte("}"))
	pw.Close()
	if code := <-answered; code != 404 {
		t.Errorf("in-flight request answered %d during shutdown, want its 404", code)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v after a clean shutdown", err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("scar did not stop")
	}
	s.done <- nil // for the cleanup
}

func TestGeneratedTokenWhenNoneConfigured(t *testing.T) {
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFile(t, ""), "DOCKER_HOST=unix:///nonexistent/docker.sock")
	var token string
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	for sc.Scan() {
		var line struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Token != "" {
			token = line.Token
		}
	}
	if len(token) < 20 {
		t.Fatalf("no generated token in the log:\n%s", s.logs.String())
	}
	if code, _ := s.get(t, "/api/v1/projects", ""); code != 401 {
		t.Errorf("API without a token: %d, want 401 — never open", code)
	}
	if code, _ := s.get(t, "/api/v1/projects", token); code != 200 {
		t.Errorf("API with the generated token: %d", code)
	}
}

package gitsource_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
)

// TestCheck: ls-remote finds the project's branch on a reachable remote; a branch
// the remote lacks is ErrUnknownRef, a remote that is not there ErrRemote.
func TestCheck(t *testing.T) {
	r := newRemote(t)
	r.commit("one", map[string]string{"app.txt": "1"})
	r.push("main")
	src := newSource(t)
	if err := src.Check(t.Context(), r.git()); err != nil {
		t.Errorf("Check of a reachable remote and branch: %v", err)
	}
	g := r.git()
	g.Branch = "develop"
	if err := src.Check(t.Context(), g); !errors.Is(err, gitsource.ErrUnknownRef) || !strings.Contains(err.Error(), `"develop"`) {
		t.Errorf("Check of an absent branch = %v; want ErrUnknownRef naming it", err)
	}
	g = projects.GitSource{Remote: "file:///nonexistent/app.git", Branch: "main"}
	if err := src.Check(t.Context(), g); !errors.Is(err, gitsource.ErrRemote) {
		t.Errorf("Check of a missing remote = %v; want ErrRemote", err)
	}
}

// TestCheckoutUnreachableRemote: a remote that is not there is ErrRemote with what git
// said, and no credentials of the URL in the message.
func TestCheckoutUnreachableRemote(t *testing.T) {
	src := newSource(t)
	_, err := src.Checkout(t.Context(), "shop", projects.GitSource{Remote: "file:///nonexistent/app.git", Branch: "main"}, "")
	if !errors.Is(err, gitsource.ErrRemote) || !strings.Contains(err.Error(), "/nonexistent/app.git") || !strings.Contains(err.Error(), "fatal:") {
		t.Errorf("Checkout from a missing remote = %v; want ErrRemote with git's words", err)
	}
	// A port nothing listens on, with a token in the URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = src.Checkout(t.Context(), "shop", projects.GitSource{Remote: "http://scar:s3cret@" + addr + "/app.git", Branch: "main"}, "")
	if !errors.Is(err, gitsource.ErrRemote) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "scar:") {
		t.Errorf("Checkout from a closed port = %v; want ErrRemote without the URL's credentials", err)
	}
}

// TestHangingRemoteIsBounded: a remote that accepts the connection and never answers
// ends at the deadline with ErrRemote saying so, and git is gone: the connection it
// held is closed (its whole process group was killed).
func TestHangingRemoteIsBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	src := gitsource.New(gitsource.Config{Root: t.TempDir(), Environ: os.Environ(), Timeout: time.Second})
	for _, scheme := range []string{"git", "http"} {
		g := projects.GitSource{Remote: scheme + "://" + l.Addr().String() + "/app.git", Branch: "main"}
		for name, call := range map[string]func() error{
			"Checkout": func() error { _, err := src.Checkout(t.Context(), "shop", g, ""); return err },
			"Check":    func() error { return src.Check(t.Context(), g) },
		} {
			t.Run(scheme+"/"+name, func(t *testing.T) {
				start := time.Now()
				err := call()
				if !errors.Is(err, gitsource.ErrRemote) || !strings.Contains(err.Error(), "timed out after 1s") {
					t.Errorf("%s from a remote that never answers = %v; want ErrRemote, timed out", name, err)
				}
				if d := time.Since(start); d > 20*time.Second {
					t.Errorf("%s took %s with a 1s timeout", name, d)
				}
				var c net.Conn
				select {
				case c = <-conns:
				case <-time.After(10 * time.Second):
					t.Fatal("git never connected to the listener")
				}
				defer c.Close()
				if !closedByPeer(c, 10*time.Second) {
					t.Error("the connection git opened is still open: a git process outlived the call")
				}
			})
		}
	}
}

// closedByPeer waits up to d for the other end of c to close it.
func closedByPeer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// TestChildEnvironment: git gets PATH, HOME, the user's ssh agent and the variables
// that keep it from prompting or running ext::, and none of scar's SCAR_* variables,
// the webhook secret's variable or anything else of scar's environment.
func TestChildEnvironment(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "env")
	fake := filepath.Join(dir, "git")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nenv >> "+dump+"\necho ---- >> "+dump+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=/home/ann", "SSH_AUTH_SOCK=/run/agent.sock",
		"SCAR_TELEGRAM_TOKEN=1:bot", "SCAR_API_TOKENS=full", "SHOP_HOOK_SECRET=hook-secret",
		"AWS_SECRET_ACCESS_KEY=aws", "GIT_DIR=/elsewhere", "GIT_ASKPASS=/usr/bin/ask",
	}
	src := gitsource.New(gitsource.Config{Root: filepath.Join(dir, "checkouts"), Environ: environ, Git: fake})
	g := projects.GitSource{Remote: "file:///srv/app.git", Branch: "main", SecretEnv: "SHOP_HOOK_SECRET"}
	src.Checkout(t.Context(), "shop", g, "")
	src.Check(t.Context(), g)
	calls := strings.Split(strings.TrimSuffix(readFile(t, dump), "----\n"), "----\n")
	if len(calls) < 2 {
		t.Fatalf("git ran %d time(s)", len(calls))
	}
	for i, call := range calls {
		env := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSpace(call), "\n") {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		for k, v := range env {
			if strings.HasPrefix(k, "SCAR_") || k == "SHOP_HOOK_SECRET" || k == "AWS_SECRET_ACCESS_KEY" || strings.Contains(v, "hook-secret") {
				t.Errorf("call %d: git got %s=%s", i, k, v)
			}
		}
		for k, v := range map[string]string{
			"HOME": "/home/ann", "SSH_AUTH_SOCK": "/run/agent.sock", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "",
			"GIT_CONFIG_KEY_0": "protocol.ext.allow", "GIT_CONFIG_VALUE_0": "never",
		} {
			if got, ok := env[k]; !ok || got != v {
				t.Errorf("call %d: git's %s = %q (set %v), want %q", i, k, got, ok, v)
			}
		}
		if env["GIT_DIR"] == "/elsewhere" {
			t.Errorf("call %d: git got scar's GIT_DIR", i)
		}
	}
}

package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

// TestBadEnvironmentNamesEveryVariable sets several bad variables at once, of both
// kinds (ones the env library cannot parse and ones scar's own checks refuse): the
// error names every one of them, not only the first.
func TestBadEnvironmentNamesEveryVariable(t *testing.T) {
	environ := []string{
		"SCAR_CONFIRM_TTL=forever",
		"SCAR_TELEGRAM_ALLOWED_USERS=42,sam",
		"SCAR_TELEGRAM_READONLY_USERS=x",
		"SCAR_TELEGRAM_MODE=carrier-pigeon",
		"SCAR_LOG_FORMAT=xml",
		"SCAR_TRUSTED_PROXIES=10.0.0.0/99",
		"SCAR_TELEGRAM_WEBHOOK_PATH=hook",
		"SCAR_API_TOKENS=short",
	}
	_, err := loadConfig(environ)
	if err == nil {
		t.Fatal("loadConfig accepted a bad environment")
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
	// Go's struct field names are not the user's words.
	for _, field := range []string{"ConfirmTTL", "TelegramAllowedUsers"} {
		if strings.Contains(err.Error(), field) {
			t.Errorf("the error names the struct field %s:\n%v", field, err)
		}
	}
}

// TestTokenInBothListsIsRefused: a token in SCAR_API_TOKENS and SCAR_API_READ_TOKENS
// has full rights, so one moved to the read-only list but left in the full one kept
// them silently. The environment is refused, and the error does not print the token.
func TestTokenInBothListsIsRefused(t *testing.T) {
	const token = "moved-to-read-only-0123456789"
	_, err := loadConfig([]string{"SCAR_API_TOKENS=full-token-0123456789," + token, "SCAR_API_READ_TOKENS=" + token + ",read-token-0123456789"})
	if err == nil || !strings.Contains(err.Error(), "SCAR_API_READ_TOKENS: 1 of 2 tokens are also in SCAR_API_TOKENS") {
		t.Fatalf("loadConfig: %v; want SCAR_API_READ_TOKENS refused for a token also in SCAR_API_TOKENS", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the error prints the token: %v", err)
	}
	if _, err := loadConfig([]string{"SCAR_API_TOKENS=full-token-0123456789", "SCAR_API_READ_TOKENS=read-token-0123456789"}); err != nil {
		t.Errorf("distinct lists: %v", err)
	}
}

// TestServeMakesStateDirPrivate starts scar on a state directory left readable by
// others, with its database and deploy backups: after start the directory and the
// backup directories are 0700 and the database 0600.
func TestServeMakesStateDirPrivate(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	deployDir := filepath.Join(dir, "backups", "demo", "20261128-0900-abcd")
	if err := os.MkdirAll(filepath.Join(deployDir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(deployDir, "files", "app.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// deploy.json marks a finished deploy's backup, which recovery keeps.
	if err := os.WriteFile(filepath.Join(deployDir, "deploy.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	loose := map[string]fs.FileMode{
		dir: 0o755, filepath.Join(dir, store.FileName): 0o644,
		filepath.Join(dir, "backups"): 0o755, filepath.Join(dir, "backups", "demo"): 0o755, deployDir: 0o755,
	}
	for path, mode := range loose {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	startServe(t, "SCAR_STATE_DIR="+dir, "SCAR_PROJECTS_FILE="+projectsFile(t, ""),
		"DOCKER_HOST=unix:///nonexistent/docker.sock", "SCAR_API_TOKENS=test-token-0123456789")
	for path, loose := range loose {
		want := fs.FileMode(0o700)
		if loose == 0o644 {
			want = 0o600
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o after start, want %o", path, got, want)
		}
	}
	// A backed-up file keeps its mode: a rollback puts it back as it was.
	if fi, err := os.Stat(filepath.Join(deployDir, "files", "app.py")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("backed-up file: %v %v, want its mode 644 kept", fi.Mode(), err)
	}
}

// SCAR_FOLLOW_MAX bounds a log follow: 1h unless set, a Go duration, positive.
func TestFollowMax(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil || cfg.FollowMax != time.Hour {
		t.Fatalf("default: %v %v, want 1h", cfg, err)
	}
	if cfg, err := loadConfig([]string{"SCAR_FOLLOW_MAX=15m"}); err != nil || cfg.FollowMax != 15*time.Minute {
		t.Errorf("SCAR_FOLLOW_MAX=15m: %v", err)
	}
	for _, bad := range []string{"0s", "-1m", "an hour"} {
		if _, err := loadConfig([]string{"SCAR_FOLLOW_MAX=" + bad}); err == nil || !strings.Contains(err.Error(), "SCAR_FOLLOW_MAX") {
			t.Errorf("SCAR_FOLLOW_MAX=%s: %v, want an error naming it", bad, err)
		}
	}
}

package dockerops

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestComposeDetectionOutlivesACancelledCaller: the detected Compose command is kept
// for every later call, so a first caller whose context ends during the detection must
// not leave "neither `docker compose` nor `docker-compose` works" behind. A dry run or
// deploy that finds nothing to deploy cancels its Compose context while `compose
// version` runs; before the fix, every deploy after it answered 500 until scar restarted.
func TestComposeDetectionOutlivesACancelledCaller(t *testing.T) {
	dir := t.TempDir()
	// A `docker` whose `compose version` works: the detection's first choice.
	script := "#!/bin/sh\n[ \"$1 $2\" = \"compose version\" ] && exit 0\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	c := NewCompose("")

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if argv, err := c.Command(cancelled); err != nil || !slices.Equal(argv, []string{"docker", "compose"}) {
		t.Errorf("detection with a cancelled caller: %q, %v; want [docker compose]", argv, err)
	}
	argv, err := c.Command(context.Background())
	if err != nil || !slices.Equal(argv, []string{"docker", "compose"}) {
		t.Fatalf("detection after a cancelled caller: %q, %v; want [docker compose]", argv, err)
	}
}

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// Through a real `scar serve`: a follow streams the lines a container writes, and
// SCAR_FOLLOW_MAX ends it with a line that says so.
func TestServeFollowEndsAfterFollowMax(t *testing.T) {
	cli := dockertest.Client(t)
	cp := dockertest.UniqueName(t, "servefollow")
	dockertest.RunContainer(t, cli, dockertest.ContainerSpec{
		Name: dockertest.V2Name(cp, "web", 1), Image: dockertest.BuildAppImage(t),
		Labels: dockertest.ComposeLabels(cp, "web", 1, ""), Env: []string{"TICK_EVERY=100ms"},
	})
	dir := t.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFile(t, fmt.Sprintf(`{"app": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true}}`,
		filepath.Join(dir, "ws"), filepath.Join(dir, "prod"), cp)), "SCAR_API_TOKENS="+e2eToken, "SCAR_FOLLOW_MAX=2s")

	req, _ := http.NewRequest("GET", s.url+"/api/v1/projects/app/logs?follow=true&lines=1", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	// Bounded, so that a follow SCAR_FOLLOW_MAX does not end fails the test, not hangs it.
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("follow: %d", resp.StatusCode)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	ticks := 0
	for _, l := range lines {
		if strings.HasPrefix(l, cp+"-web-1 | ") && strings.Contains(l, " tick ") {
			ticks++
		}
	}
	if ticks == 0 || len(lines) == 0 || lines[len(lines)-1] != "[scar: follow ended: 2s passed]" {
		t.Errorf("the follow sent %d ticks and ended with %q; want ticks, then the line that 2s passed:\n%s",
			ticks, lines[len(lines)-1:], strings.Join(lines, "\n"))
	}
}

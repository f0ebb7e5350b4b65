package handlers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// TestCancelButtonStopsADeploy: a running deploy's progress message carries a ⏹ Cancel
// button; a read-only user's press is refused, another full user's press cancels it:
// the hung build is killed with its process group, the deploy rolled back and
// reported as cancelled, production as it was (issue 12, defect 7). The real
// dockerops Service, Compose and engine run it; the Compose tool hangs on `build`
// (a wrapper that execs the real tool for every other command), because a FROM
// scratch build has nothing that could hang and no image can be pulled here.
// The deploy runs in an allowed group chat, where other users can press its buttons
// (in the admin's private chat nobody else can, and the bot refuses such a press).
func TestCancelButtonStopsADeploy(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	name := dockertest.UniqueName(t, "tgcancel")
	dockertest.RemoveImagesWhenDone(t, cli, name) // its build and rollback tags, removed after its containers
	prod, ws := t.TempDir(), t.TempDir()
	composeFile := fmt.Sprintf("services:\n  web:\n    build: .\n    image: %s-web:latest\n", name)
	dockerfile := "FROM " + image + "\n"
	for root, files := range map[string]map[string]string{
		prod: {"docker-compose.yml": composeFile, "Dockerfile": dockerfile},
		ws:   {"docker-compose.yml": composeFile, "Dockerfile": dockerfile + "LABEL v=2\n"},
	} {
		for rel, body := range files {
			if err := os.WriteFile(filepath.Join(root, rel), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	composeRun := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, compose[0], append(append(compose[1:], "-p", name), args...)...)
		cmd.Dir = prod
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("compose %v: %v: %s", args, err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		if err := composeRun("down", "-v", "--remove-orphans", "-t", "1"); err != nil {
			t.Log(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		imgs, _ := cli.ImageList(ctx, client.ImageListOptions{})
		for _, img := range imgs.Items {
			for _, tag := range img.RepoTags {
				if strings.HasPrefix(tag, name+"-") || strings.HasPrefix(tag, "scar-rollback/"+name+"/") {
					cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true})
				}
			}
		}
	})
	if err := composeRun("up", "-d", "--build"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, path := range []string{filepath.Join(prod, "docker-compose.yml"), filepath.Join(ws, "docker-compose.yml")} {
		os.Chtimes(path, old, old)
	}

	dir := t.TempDir()
	pidFile := filepath.Join(dir, "hang.pid")
	wrapper := filepath.Join(dir, "compose-hangs-on-build")
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = build ]; then\n    sleep 600 &\n    echo $$ $! > %s\n    wait\n    exit 1\n  fi\ndone\nexec %s \"$@\"\n",
		pidFile, strings.Join(compose, " "))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	h := harnessWithDeploys(t, name, ws, prod, wrapper)

	// In a listed group: other users can press the Cancel button only where they see it
	// (a press in someone else's private chat is refused as from an unlisted chat).
	h.send(groupChat, admin, "/docker_deploy")
	c := h.waitSentWithin(groupChat, "Deploy Workspace → Production", time.Minute)
	h.press(groupChat, admin, c.MessageID, buttons(t, c)[0])

	var stop string
	var progress telegramfake.Call
	h.api.WaitFor(t, time.Minute, "the deploy's progress with a Cancel button", func([]telegramfake.Call) bool {
		for _, c := range h.api.Sent() {
			for _, b := range buttons(t, c) {
				if strings.HasPrefix(b, dataStop+":") {
					stop, progress = b, c
					return true
				}
			}
		}
		return false
	})
	var leader, child int
	dockertest.WaitFor(t, time.Minute, func() bool {
		b, err := os.ReadFile(pidFile)
		return err == nil && func() bool { _, err := fmt.Sscan(string(b), &leader, &child); return err == nil }()
	})
	msgID := int(progress.Int64("message_id"))
	if msgID == 0 {
		msgID = progress.MessageID
	}

	refused := h.answerTo(h.press(groupChat, reader, msgID, stop))
	if !strings.Contains(refused, "Only a user who may deploy") {
		t.Errorf("a read-only user's press answered %q", refused)
	}
	if got := h.answerTo(h.press(groupChat, admin2, msgID, stop)); !strings.Contains(got, "Cancelling") {
		t.Fatalf("a full user's press answered %q", got)
	}
	final := rendered(t, h.waitSentWithin(groupChat, "Deploy cancelled", 2*time.Minute))
	t.Logf("final report:\n%s", final)
	for _, want := range []string{"at build", "cancelled by telegram:43", "Rolled back"} {
		if !strings.Contains(final, want) {
			t.Errorf("the final report lacks %q", want)
		}
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool { return errors.Is(syscall.Kill(-leader, 0), syscall.ESRCH) })
	if b, _ := os.ReadFile(filepath.Join(prod, "Dockerfile")); string(b) != dockerfile {
		t.Errorf("production's Dockerfile is %q after a cancelled deploy", b)
	}
	if got := h.answerTo(h.press(groupChat, admin, msgID, stop)); !strings.Contains(got, "Too late") {
		t.Errorf("a press after the end answered %q", got)
	}
	h.send(groupChat, admin, "/docker_history")
	if hist := rendered(t, h.waitSentWithin(groupChat, "Deploy history", time.Minute)); !strings.Contains(hist, "cancelled at build, rolled back") {
		t.Errorf("history:\n%s", hist)
	}
}

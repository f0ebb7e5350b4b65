package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// TestServeChildrenGetNoSecretsAndDeploysCancel runs scar as it runs in production —
// run() given an environment with the API tokens, the bot token and the webhook
// secret — and drives it over REST:
//
//   - a Compose file that asks for those variables deploys them empty into the
//     container (issue 13, defect 1): the Compose child's environment is the one run
//     was given, filtered;
//   - a deploy whose build hangs is cancelled with POST /deployments/{id}/cancel
//     (a read-only token is refused), rolls back and ends as cancelled, the Compose
//     tool's process group gone; a second cancel is 409, an unknown id 404 (issue 12,
//     defect 7).
//
// The Compose tool is the real one behind a wrapper that hangs on `build` while a
// marker file exists (no image can be pulled here and a FROM scratch build has no
// step that could hang).
func TestServeChildrenGetNoSecretsAndDeploysCancel(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	name := dockertest.UniqueName(t, "child")
	ws, prod, tools := t.TempDir(), t.TempDir(), t.TempDir()
	composeFile := fmt.Sprintf("services:\n  web:\n    build: .\n    image: %s-web:latest\n    environment:\n      VERSION: v1\n", name)
	leaking := strings.Replace(composeFile, "      VERSION: v1\n", "      VERSION: v1\n      LEAK: \"${SCAR_API_TOKENS}\"\n      BOT: \"${SCAR_TELEGRAM_TOKEN}\"\n      SECRET: \"${SCAR_TELEGRAM_WEBHOOK_SECRET}\"\n", 1)
	write := func(root, rel, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, rel), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(prod, "docker-compose.yml", composeFile)
	write(prod, "Dockerfile", "FROM "+image+"\n")
	write(ws, "docker-compose.yml", leaking)
	write(ws, "Dockerfile", "FROM "+image+"\n")
	composeRun := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, compose[0], append(append(compose[1:], "-p", name), args...)...)
		cmd.Dir = prod
		if out, err := cmd.CombinedOutput(); err != nil {
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
	for _, p := range []string{filepath.Join(ws, "Dockerfile"), filepath.Join(prod, "Dockerfile")} {
		os.Chtimes(p, old, old)
	}

	marker, pidFile := filepath.Join(tools, "hang"), filepath.Join(tools, "hang.pid")
	wrapper := filepath.Join(tools, "compose")
	write(tools, "compose", fmt.Sprintf("#!/bin/sh\nif [ -e %s ]; then\n  for a in \"$@\"; do\n    if [ \"$a\" = build ]; then\n      sleep 600 &\n      echo $$ $! > %s\n      wait\n      exit 1\n    fi\n  done\nfi\nexec %s \"$@\"\n",
		marker, pidFile, strings.Join(compose, " ")))
	os.Chmod(wrapper, 0o755)

	// scar's secrets are in the process environment too, as when it runs from a shell
	// or a unit file: neither source may reach the Compose child.
	t.Setenv("SCAR_API_TOKENS", faultToken)
	t.Setenv("SCAR_TELEGRAM_TOKEN", telegramfake.Token)
	t.Setenv("SCAR_TELEGRAM_WEBHOOK_SECRET", faultSecret)
	api := telegramfake.New(t)
	dockerHost := os.Getenv("DOCKER_HOST")
	if dockerHost == "" {
		dockerHost = "unix:///var/run/docker.sock"
	}
	// The project's own name is unique too: rollback tags are named after it.
	path := projectsFile(t, fmt.Sprintf(`{%q: {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "health_timeout": "30s"}}`, name, ws, prod, name))
	s := startTelegramServe(t, api, api.URL, "SCAR_PROJECTS_FILE="+path, "DOCKER_HOST="+dockerHost, "SCAR_COMPOSE_COMMAND="+wrapper)

	post := func(path, token string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp, v
	}
	waitDone := func(id string) map[string]any {
		t.Helper()
		var d map[string]any
		dockertest.WaitFor(t, 2*time.Minute, func() bool {
			_, body := s.get(t, "/api/v1/deployments/"+id, faultRead)
			d = nil
			json.Unmarshal([]byte(body), &d)
			return d["status"] != nil && d["status"] != "running"
		})
		return d
	}

	// The Compose file asks for scar's secrets.
	resp, d := post("/api/v1/projects/"+name+"/deploy", faultToken)
	if resp.StatusCode != 202 {
		t.Fatalf("deploy: %d %v", resp.StatusCode, d)
	}
	if done := waitDone(d["id"].(string)); done["status"] != "success" {
		t.Fatalf("the deploy of the leaking Compose file ended %v", done)
	}
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", "com.docker.compose.project="+name).Add("label", "com.docker.compose.service=web"),
	})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("web containers: %v, %v", res.Items, err)
	}
	env := map[string]string{}
	for _, kv := range dockertest.Inspect(t, cli, res.Items[0].ID).Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range []string{"LEAK", "BOT", "SECRET"} {
		if v, ok := env[k]; !ok || v != "" {
			t.Errorf("the deployed container has %s=%q (present %v), want it empty", k, v, ok)
		}
	}

	// A deploy whose build hangs, cancelled over REST.
	write(tools, "hang", "")
	write(ws, "Dockerfile", "FROM "+image+"\nLABEL v=2\n")
	resp, d = post("/api/v1/projects/"+name+"/deploy", faultToken)
	if resp.StatusCode != 202 {
		t.Fatalf("deploy: %d %v", resp.StatusCode, d)
	}
	id := d["id"].(string)
	var leader, child int
	dockertest.WaitFor(t, time.Minute, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &leader, &child)
		return err == nil
	})
	if resp, _ := post("/api/v1/deployments/"+id+"/cancel", faultRead); resp.StatusCode != 403 {
		t.Errorf("cancel with a read-only token: %d, want 403", resp.StatusCode)
	}
	resp, c := post("/api/v1/deployments/"+id+"/cancel", faultToken)
	if resp.StatusCode != 202 || c["id"] != id || resp.Header.Get("Location") != "/api/v1/deployments/"+id {
		t.Fatalf("cancel: %d %v Location %q", resp.StatusCode, c, resp.Header.Get("Location"))
	}
	done := waitDone(id)
	if done["status"] != "cancelled" || done["failed_step"] != "build" || !strings.HasPrefix(fmt.Sprint(done["error"]), "cancelled by api:") {
		t.Fatalf("the cancelled deploy ended %v", done)
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool { return errors.Is(syscall.Kill(-leader, 0), syscall.ESRCH) })
	if b, _ := os.ReadFile(filepath.Join(prod, "Dockerfile")); string(b) != "FROM "+image+"\n" {
		t.Errorf("production's Dockerfile is %q after the cancelled deploy", b)
	}
	if resp, body := post("/api/v1/deployments/"+id+"/cancel", faultToken); resp.StatusCode != 409 {
		t.Errorf("cancelling a finished deploy: %d %v, want 409", resp.StatusCode, body)
	}
	if resp, _ := post("/api/v1/deployments/20990101-000000-00000000/cancel", faultToken); resp.StatusCode != 404 {
		t.Errorf("cancelling an unknown deploy: %d, want 404", resp.StatusCode)
	}
}

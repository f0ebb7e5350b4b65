package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

const readToken = "read-token-0123456789abcdef"

// TestRESTDeployFlow is the REST side of a deploy as a script would drive it: a dry
// run shows the plan, the deploy answers 202 with a Location to poll until it is done,
// the history lists it, and a rollback undoes it. A read-only token changes nothing.
func TestRESTDeployFlow(t *testing.T) {
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	name := dockertest.UniqueName(t, "rest")
	files := map[string]string{
		"docker-compose.yml": fmt.Sprintf("services:\n  web:\n    build: .\n    image: %s-web:latest\n    environment:\n      CONTENT_FILE: /srv/content/index.txt\n    ports:\n      - \"127.0.0.1::8000\"\n    volumes:\n      - ./content:/srv/content:ro\n", name),
		"Dockerfile":         "FROM " + image + "\n",
		"content/index.txt":  "v1\n",
	}
	ws, prod := deployedComposeProject(t, compose, name, files, "--build")
	path := projectsFile(t, fmt.Sprintf(`{"rest": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "health_timeout": "30s"}}`, ws, prod, name))
	s := startServe(t, "SCAR_PROJECTS_FILE="+path, "SCAR_API_TOKENS="+e2eToken, "SCAR_API_READ_TOKENS="+readToken,
		"SCAR_COMPOSE_COMMAND="+strings.Join(compose, " "))

	post := func(path, token, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(body))
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
	waitDone := func(location string) map[string]any {
		t.Helper()
		var d map[string]any
		dockertest.WaitFor(t, 2*time.Minute, func() bool {
			_, body := s.get(t, location, readToken)
			d = nil
			json.Unmarshal([]byte(body), &d)
			return d["status"] != nil && d["status"] != "running"
		})
		return d
	}

	if resp, _ := post("/api/v1/projects/rest/deploy", e2eToken, `{"dry_run": true}`); resp.StatusCode != 200 {
		t.Fatalf("dry run of an unchanged workspace: %d", resp.StatusCode)
	}
	os.WriteFile(filepath.Join(ws, "content/index.txt"), []byte("v2\n"), 0o644)

	_, plan := post("/api/v1/projects/rest/deploy", e2eToken, `{"dry_run": true}`)
	p, _ := plan["plan"].(map[string]any)
	if plan["nothing_to_deploy"] != false || fmt.Sprint(p["changed"]) != "[content/index.txt]" || p["rebuild"] != false {
		t.Fatalf("dry run: %v", plan)
	}
	// A dry run changes nothing: a read-only token sees the same plan.
	if resp, roPlan := post("/api/v1/projects/rest/deploy", readToken, `{"dry_run": true}`); resp.StatusCode != 200 || fmt.Sprint(roPlan) != fmt.Sprint(plan) {
		t.Fatalf("dry run with a read-only token: %d %v, want 200 and the plan %v", resp.StatusCode, roPlan, plan)
	}
	if resp, _ := post("/api/v1/projects/rest/deploy", readToken, ""); resp.StatusCode != 403 {
		t.Fatalf("deploy with a read-only token: %d, want 403", resp.StatusCode)
	}
	if b, _ := os.ReadFile(filepath.Join(prod, "content/index.txt")); string(b) != "v1\n" {
		t.Fatalf("a refused deploy changed production")
	}

	resp, d := post("/api/v1/projects/rest/deploy", e2eToken, "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 202 || d["status"] != "running" || !strings.HasPrefix(loc, "/api/v1/deployments/") {
		t.Fatalf("deploy: %d %v Location %q", resp.StatusCode, d, loc)
	}
	if resp, _ := post("/api/v1/projects/rest/deploy", e2eToken, ""); resp.StatusCode != 409 && resp.StatusCode != 200 {
		t.Errorf("a second deploy while one runs: %d, want 409 busy (or 200 nothing to deploy if the first already ended)", resp.StatusCode)
	}
	done := waitDone(loc)
	if done["status"] != "success" || len(done["events"].([]any)) < 4 {
		t.Fatalf("deploy ended %v", done)
	}
	if b, _ := os.ReadFile(filepath.Join(prod, "content/index.txt")); string(b) != "v2\n" {
		t.Errorf("production not updated")
	}
	// serve watches production: the deploy bakes for the default bake_time.
	if bake, _ := done["bake"].(string); !strings.HasPrefix(bake, "baking until ") {
		t.Errorf("a successful deploy's bake is %q, want baking until …", bake)
	}
	_, hist := s.get(t, "/api/v1/projects/rest/deployments", readToken)
	if !strings.Contains(hist, done["id"].(string)) {
		t.Errorf("history lacks the deploy: %s", hist)
	}

	resp, rb := post("/api/v1/projects/rest/rollback", e2eToken, "")
	if resp.StatusCode != 202 {
		t.Fatalf("rollback %d %v", resp.StatusCode, rb)
	}
	if rb := waitDone(resp.Header.Get("Location")); rb["status"] != "success" || rb["undoes"] != done["id"] {
		t.Fatalf("rollback ended %v", rb)
	}
	if b, _ := os.ReadFile(filepath.Join(prod, "content/index.txt")); string(b) != "v1\n" {
		t.Errorf("rollback did not restore the file: %q", b)
	}
	// The rollback ended the deploy's bake, recorded on the deploy (by the bake's
	// goroutine, as the rollback began).
	var deployed map[string]any
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		_, body := s.get(t, loc, readToken)
		deployed = nil
		json.Unmarshal([]byte(body), &deployed)
		return deployed["bake"] != nil && !strings.HasPrefix(deployed["bake"].(string), "baking until ")
	})
	if deployed["bake"] != "ended by rollback" || deployed["status"] != "success" {
		t.Errorf("the rolled-back deploy: status %v, bake %v; want success, ended by rollback", deployed["status"], deployed["bake"])
	}
	if code, _ := s.get(t, "/api/v1/deployments/no-such-id", readToken); code != 404 {
		t.Errorf("unknown deployment: %d", code)
	}
}

// deployedComposeProject writes files into a new workspace and production, starts
// production as Compose project name (up -d, plus upArgs) and gives production the
// workspace's file times, as after a deploy: the trees start alike. The project, its
// images and rollback tags are removed with the test.
func deployedComposeProject(t *testing.T, compose []string, name string, files map[string]string, upArgs ...string) (ws, prod string) {
	t.Helper()
	dockertest.RemoveImagesWhenDone(t, dockertest.Client(t), name)
	ws, prod = t.TempDir(), t.TempDir()
	for rel, body := range files {
		for _, root := range []string{ws, prod} {
			os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
			if err := os.WriteFile(filepath.Join(root, rel), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	composeRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command(compose[0], append(append(compose[1:], "-p", name), args...)...)
		cmd.Dir = prod
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("compose %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { composeRun("down", "-v", "--rmi", "local", "-t", "1") })
	composeRun(append([]string{"up", "-d"}, upArgs...)...)
	for rel := range files {
		fi, _ := os.Stat(filepath.Join(ws, rel))
		os.Chtimes(filepath.Join(prod, rel), fi.ModTime(), fi.ModTime())
	}
	return ws, prod
}

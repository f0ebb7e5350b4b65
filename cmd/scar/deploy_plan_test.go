package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestRESTDeployOfAChangedPlanIs409 (issue 12.8): a deploy that names the plan the
// client saw (plan_fingerprint from a dry run) answers 409 plan_changed with the new
// plan, and changes nothing, when the workspace changed since; with the new
// fingerprint it deploys.
func TestRESTDeployOfAChangedPlanIs409(t *testing.T) {
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	name := dockertest.UniqueName(t, "restplan")
	files := map[string]string{
		"docker-compose.yml": fmt.Sprintf("services:\n  web:\n    image: %s\n    environment:\n      CONTENT_FILE: /srv/content/index.txt\n    volumes:\n      - ./content:/srv/content:ro\n", image),
		"content/index.txt":  "v1\n",
	}
	ws, prod := deployedComposeProject(t, compose, name, files)
	path := projectsFile(t, fmt.Sprintf(`{"rest": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "health_timeout": "30s"}}`, ws, prod, name))
	s := startServe(t, "SCAR_PROJECTS_FILE="+path, "SCAR_API_TOKENS="+e2eToken, "SCAR_COMPOSE_COMMAND="+strings.Join(compose, " "))
	post := func(body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+"/api/v1/projects/rest/deploy", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp, v
	}
	fingerprintOf := func(v map[string]any) string {
		p, _ := v["plan"].(map[string]any)
		fp, _ := p["fingerprint"].(string)
		return fp
	}

	os.WriteFile(filepath.Join(ws, "content/index.txt"), []byte("v2\n"), 0o644)
	_, dry := post(`{"dry_run": true}`)
	seen := fingerprintOf(dry)
	if p, _ := dry["plan"].(map[string]any); seen == "" || !strings.Contains(fmt.Sprint(p["service_actions"]), "restart") {
		t.Fatalf("dry run: %v, want a fingerprint and web's restart in service_actions", dry)
	}
	os.WriteFile(filepath.Join(ws, "content/index.txt"), []byte("v3\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "content/more.txt"), []byte("more\n"), 0o644)

	resp, body := post(`{"plan_fingerprint": "` + seen + `"}`)
	errBody, _ := body["error"].(map[string]any)
	newPlan := fingerprintOf(body)
	if resp.StatusCode != http.StatusConflict || errBody["code"] != "plan_changed" || newPlan == "" || newPlan == seen {
		t.Fatalf("deploy of a changed plan: %d %v, want 409 plan_changed with the new plan", resp.StatusCode, body)
	}
	if !strings.Contains(fmt.Sprint(body["plan"]), "content/more.txt") {
		t.Errorf("the new plan lacks the new file: %v", body["plan"])
	}
	if b, _ := os.ReadFile(filepath.Join(prod, "content/index.txt")); string(b) != "v1\n" {
		t.Fatalf("a refused deploy changed production: %q", b)
	}

	resp, d := post(`{"plan_fingerprint": "` + newPlan + `"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deploy of the confirmed new plan: %d %v", resp.StatusCode, d)
	}
	dockertest.WaitFor(t, 2*time.Minute, func() bool {
		_, body := s.get(t, resp.Header.Get("Location"), e2eToken)
		var rec map[string]any
		json.Unmarshal([]byte(body), &rec)
		return rec["status"] == "success"
	})
	if b, _ := os.ReadFile(filepath.Join(prod, "content/index.txt")); string(b) != "v3\n" {
		t.Errorf("production %q after the deploy of the new plan", b)
	}
}

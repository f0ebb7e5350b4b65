package handlers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// A deploy from Telegram whose new version passes the gate and crashes in its bake:
// the report says it bakes, and when the bake rolls it back the requester is told in
// a new message, production back to the old version.
func TestDeployBakeRollbackIsToldToTheRequester(t *testing.T) {
	cp := newContentProject(t, "tgbake")
	// The new version also crashes 5 s after it started (the twenty, shortened).
	wsCompose := filepath.Join(cp.ws, "docker-compose.yml")
	b, err := os.ReadFile(wsCompose)
	if err != nil {
		t.Fatal(err)
	}
	crashing := strings.Replace(string(b), "      CONTENT_FILE: /srv/content/index.txt\n", "      CONTENT_FILE: /srv/content/index.txt\n      CRASH_AFTER: 5s\n", 1)
	cp.write(t, cp.ws, "docker-compose.yml", crashing)
	h := harnessWithDeploys(t, cp.cp.Name, cp.ws, cp.prod, strings.Join(dockertest.ComposeCommand(), " "),
		deploysOptions{keys: `"bake_time": "1m", `, watch: true})

	h.send(admin.ID, admin, "/docker_deploy")
	c := h.waitSentWithin(admin.ID, "Deploy Workspace → Production", time.Minute)
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
	done := rendered(t, h.waitSentWithin(admin.ID, "Deployment complete!", 2*time.Minute))
	if !strings.Contains(done, "🧪 Baking until ") {
		t.Errorf("the deploy report does not say it bakes:\n%s", done)
	}
	failed := rendered(t, h.waitSentWithin(admin.ID, "Deploy failed at bake", 2*time.Minute))
	for _, want := range []string{"died", "exited with code 1", "Rolled back: production is as it was before."} {
		if !strings.Contains(failed, want) {
			t.Errorf("the bake's report lacks %q:\n%s", want, failed)
		}
	}
	h.send(admin.ID, admin, "/docker_history")
	if hist := rendered(t, h.waitSentWithin(admin.ID, "Deploy history", time.Minute)); !strings.Contains(hist, "failed at bake, rolled back") {
		t.Errorf("the history does not show the bake's rollback:\n%s", hist)
	}
	for rel, want := range map[string]string{"content/index.txt": "v1\n", "docker-compose.yml": string(b)} {
		got, err := os.ReadFile(filepath.Join(cp.prod, rel))
		if err != nil || string(got) != want {
			t.Errorf("production %s is %q (%v) after the bake's rollback, want the old one", rel, got, err)
		}
	}
}

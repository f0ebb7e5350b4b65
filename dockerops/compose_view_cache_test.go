package dockerops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestComposeViewKeyFollowsWhatComposeReads: the key of a cached Compose view changes
// with every input Compose reads — the Compose file's bytes, .env, an override that
// appears, an env_file in a subdirectory, a file replaced with the same size and
// modification time — and stays when nothing changed.
func TestComposeViewKeyFollowsWhatComposeReads(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-compose.yml"), "services:\n  web:\n    image: x\n    env_file: [conf/web.env]\n")
	writeFile(t, filepath.Join(dir, "conf", "web.env"), "A=1\n")
	writeFile(t, filepath.Join(dir, "content", "index.txt"), "v1\n")
	argv := []string{"docker", "compose"}
	key := func() string { return composeViewKey(argv, dir, "p", "", nil) }
	k := key()
	if again := key(); again != k {
		t.Fatal("the same files give two keys")
	}
	writeFile(t, filepath.Join(dir, "content", "index.txt"), "v2\n") // not read by Compose
	if key() != k {
		t.Error("a file Compose does not read changed the key")
	}
	sameSizeAndTime := func(rel, body string) {
		t.Helper()
		path := filepath.Join(dir, rel)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, body)
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		name string
		edit func()
	}{
		{"compose file, same size and mtime", func() {
			sameSizeAndTime("docker-compose.yml", strings.Replace(mustRead(t, filepath.Join(dir, "docker-compose.yml")), "image: x", "image: y", 1))
		}},
		{"env_file in a subdirectory, same size and mtime", func() { sameSizeAndTime("conf/web.env", "A=2\n") }},
		{".env appears", func() { writeFile(t, filepath.Join(dir, ".env"), "B=1\n") }},
		{".env edited", func() { writeFile(t, filepath.Join(dir, ".env"), "B=22\n") }},
		{"override appears", func() { writeFile(t, filepath.Join(dir, "docker-compose.override.yml"), "services: {}\n") }},
	} {
		step.edit()
		now := key()
		if now == k {
			t.Errorf("%s: the key did not change", step.name)
		}
		k = now
	}
	if composeViewKey(argv, dir, "p", "", []string{"--env-file", filepath.Join(dir, "other.env")}) == k {
		t.Error("another --env-file gives the same key")
	}
	if composeViewKey([]string{"docker-compose"}, dir, "p", "", nil) == k {
		t.Error("another tool gives the same key")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestComposeViewsExpire: a kept view is not handed out after composeViewTTL, and a
// caller's changes to a view it got do not reach the cache.
func TestComposeViewsExpire(t *testing.T) {
	var c composeViews
	now := time.Now()
	c.put("k", composeView{services: map[string]composeService{"web": {Name: "web"}}, hashes: map[string]string{"web": "h"}}, now)
	v, ok := c.get("k", now.Add(composeViewTTL/2))
	if !ok {
		t.Fatal("a fresh view is not reused")
	}
	delete(v.services, "web")
	if again, _ := c.get("k", now); len(again.services) != 1 {
		t.Error("a caller's change reached the cached view")
	}
	if _, ok := c.get("k", now.Add(composeViewTTL+time.Second)); ok {
		t.Error("an expired view is reused")
	}
}

// webVersionTemplate is composeTemplate with web's VERSION read from the environment
// (the .env a deploy ships).
var webVersionTemplate = strings.Replace(composeTemplate, "VERSION: v1", "VERSION: ${WEB_VERSION:-v1}", 1)

// TestConfirmedPlanSeesComposeInputsChangedAfterIt (issue 18): between the plan shown
// for confirmation and the deploy, an edit that only Compose sees — the .env the
// deploy ships, then the Compose file, each rewritten with its size and modification
// time kept, which the plan's fingerprint does not tell apart — makes the deploy
// refuse with plan_changed: the Compose view the plan read is not reused.
func TestConfirmedPlanSeesComposeInputsChangedAfterIt(t *testing.T) {
	e := newDeployEnvWith(t, nil, webVersionTemplate, true)
	e.p.DeployEnvFiles = true
	ctx := context.Background()
	confirmed := func(fp string) error {
		_, err := e.svc.Deploy(WithConfirmedPlan(ctx, fp), e.p.Name, Actor{Name: "test"}, nil)
		return err
	}
	// sameStat rewrites a workspace file with the same length and modification time.
	sameStat := func(rel, from, to string) {
		t.Helper()
		path := filepath.Join(e.p.Workspace, rel)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		body := mustRead(t, path)
		if len(from) != len(to) || !strings.Contains(body, from) {
			t.Fatalf("%s: cannot replace %q with %q", rel, from, to)
		}
		writeFile(t, path, strings.Replace(body, from, to, 1))
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	prodBefore := treeHash(t, e.p.Production)

	e.edit(".env", "WEB_VERSION=v2\n")
	shown := e.plan()
	wantActions(t, shown, map[string]string{"web": ActionRecreate, "db": ActionNone})
	sameStat(".env", "v2", "v1") // web's configuration is back to production's
	err := confirmed(shown.Fingerprint)
	changed, ok := errors.AsType[*PlanChangedError](err)
	if !ok {
		t.Fatalf("deploy after .env was edited: %v, want plan_changed", err)
	}
	if a := actionsOf(changed.Plan); a["web"] == ActionRecreate {
		t.Errorf("the new plan still recreates web (%v): .env gives it production's configuration", a)
	}

	e.editCompose("VERSION: db\n", "VERSION: d1\n")
	shown = e.plan()
	if a := actionsOf(shown); a["db"] != ActionRecreate {
		t.Fatalf("plan %v: want db recreated", a)
	}
	sameStat("docker-compose.yml", "VERSION: d1\n", "VERSION: db\n")
	err = confirmed(shown.Fingerprint)
	changed, ok = errors.AsType[*PlanChangedError](err)
	if !ok {
		t.Fatalf("deploy after the Compose file was edited: %v, want plan_changed", err)
	}
	if a := actionsOf(changed.Plan); a["db"] != ActionNone {
		t.Errorf("the new plan %v: db's configuration is production's again", a)
	}
	if got := treeHash(t, e.p.Production); got != prodBefore {
		t.Error("production changed by refused deploys")
	}
}

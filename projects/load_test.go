package projects

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadSeedFile(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "seed.scar-projects.json"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Project{
		Name:             "project-orchestrator",
		Workspace:        "/workspace/project-orchestrator",
		Production:       "/home/samuel/po",
		ComposeProject:   "po",
		Containers:       []string{"backend", "po-postgres-1", "po-redis-1"},
		PrimaryContainer: "backend",
		AutoDetect:       true,
		Rebuild:          RebuildAuto,
		HealthTimeout:    DefaultHealthTimeout,
		BuildTimeout:     DefaultBuildTimeout,
		ApplyTimeout:     DefaultApplyTimeout,
		Alerts:           true,
		BakeTime:         DefaultBakeTime,
	}
	got, err := cfg.Get("project-orchestrator")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("project:\n got %+v\nwant %+v", got, want)
	}
	if !got.DetectsByLabel() {
		t.Error("seed project should detect its containers by Compose label")
	}
	if names := cfg.Names(); !reflect.DeepEqual(names, []string{"project-orchestrator"}) {
		t.Errorf("Names = %q", names)
	}
	if def := cfg.Default(); def != "project-orchestrator" {
		t.Errorf("Default = %q, want the only project", def)
	}
}

func TestParseAppliesOptionalKeys(t *testing.T) {
	cfg, err := Parse([]byte(`{"shop": {
		"workspace": "/srv/ws/shop/", "production": "/srv/prod/shop",
		"containers": ["web", "worker"], "default": true,
		"exclude": ["*.log", "!keep.log", "/tmp"], "rebuild": "never", "rebuild_on": ["Pipfile.lock"],
		"delete_removed": true, "health_timeout": "2m30s", "deploy_env_files": true, "deploy_setuid": true,
		"health_url": "http://localhost:8000/health", "docker_host": "tcp://10.0.0.2:2376",
		"allowed_users": [12345, 9007199254740993], "alert_chats": [12345, -1001234567890], "alerts": false}}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got, err := cfg.Get("shop")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := &Project{
		Name: "shop", Workspace: "/srv/ws/shop", Production: "/srv/prod/shop",
		Containers: []string{"web", "worker"}, PrimaryContainer: "web", Default: true,
		Exclude: []string{"*.log", "!keep.log", "/tmp"}, Rebuild: RebuildNever,
		RebuildOn: []string{"Pipfile.lock"}, DeleteRemoved: true, HealthTimeout: 150 * time.Second,
		DeployEnvFiles: true, DeploySetuid: true,
		HealthURL: "http://localhost:8000/health", DockerHost: "tcp://10.0.0.2:2376",
		AllowedUsers: []int64{12345, 9007199254740993},
		BuildTimeout: DefaultBuildTimeout, ApplyTimeout: DefaultApplyTimeout,
		AlertChats: []int64{12345, -1001234567890}, Alerts: false, BakeTime: DefaultBakeTime,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("project:\n got %+v\nwant %+v", got, want)
	}
	if got.DetectsByLabel() {
		t.Error("a project without compose_project cannot detect by label")
	}
}

func TestParseRejects(t *testing.T) {
	// ok is a valid project body; cases splice their change in front of it, and a
	// later duplicate key would be refused, so they only add keys ok lacks.
	const ok = `"workspace": "/ws/po", "production": "/prod/po", "containers": ["web", "db"]`
	tests := []struct {
		name string
		file string
		want []string // each must appear in the error text
	}{
		{"empty file", "  \n", []string{"empty file"}},
		{"invalid JSON", "{\n  \"po\": {\n    \"workspace\": \"/ws\",,\n", []string{"invalid JSON at line 3, column 24"}},
		{"trailing garbage", `{"po": {` + ok + `}} x`, []string{"invalid JSON at line 1, column"}},
		{"top level list", `[1, 2]`, []string{"top level must be an object", "got a list"}},
		{"top level null", `null`, []string{"top level must be an object", "got null"}},
		{"no projects", `{}`, []string{"no projects"}},
		{"project not an object", `{"po": "x"}`, []string{`project "po": must be an object, got a string`}},
		{"duplicate project", `{"po": {` + ok + `}, "po": {` + ok + `}}`, []string{`project "po": defined more than once`}},
		{"unknown key", `{"po": {"containrs": [], ` + ok + `}}`, []string{`project "po": unknown key "containrs" (did you mean "containers"?)`}},
		{"unknown key far from any", `{"po": {"colour": "red", ` + ok + `}}`, []string{`project "po": unknown key "colour"`}},
		{"duplicate key", `{"po": {"workspace": "/a", ` + ok + `}}`, []string{`project "po": workspace: given more than once`}},
		{"string wanted", `{"po": {"compose_project": 1, ` + ok + `}}`, []string{`project "po": compose_project: must be a string, got a number`}},
		{"list wanted", `{"po": {"workspace": "/ws/po", "production": "/prod/po", "containers": "web"}}`, []string{`project "po": containers: must be a list of strings, got a string`}},
		{"list item wrong", `{"po": {"workspace": "/ws/po", "production": "/prod/po", "containers": ["web", 2]}}`, []string{`project "po": containers: item 2 must be a string, got a number`}},
		{"bool wanted", `{"po": {"auto_detect": "yes", ` + ok + `}}`, []string{`project "po": auto_detect: must be true or false, got a string`}},
		{"null value", `{"po": {"exclude": null, ` + ok + `}}`, []string{`project "po": exclude: must be a list of strings, got null`}},
		{"user id not integer", `{"po": {"allowed_users": [1.5], ` + ok + `}}`, []string{`project "po": allowed_users: item 1 must be an integer user id, got 1.5`}},
		{"user id as string", `{"po": {"allowed_users": ["42"], ` + ok + `}}`, []string{`project "po": allowed_users: item 1 must be an integer user id, got "42"`}},
		{"user id negative", `{"po": {"allowed_users": [-5], ` + ok + `}}`, []string{`project "po": allowed_users: -5 is not a Telegram user id`}},
		{"alert chat zero", `{"po": {"alert_chats": [0], ` + ok + `}}`, []string{`project "po": alert_chats: item 1 must be a Telegram chat id`}},
		{"alert chats not a list", `{"po": {"alert_chats": -100, ` + ok + `}}`, []string{`project "po": alert_chats: must be a list of Telegram chat ids, got a number`}},
		{"alerts not a bool", `{"po": {"alerts": "no", ` + ok + `}}`, []string{`project "po": alerts:`}},
		{"missing workspace", `{"po": {"production": "/prod/po", "containers": ["web"]}}`, []string{`project "po": workspace: required`}},
		{"missing production", `{"po": {"workspace": "/ws/po", "containers": ["web"]}}`, []string{`project "po": production: required`}},
		{"relative workspace", `{"po": {"workspace": "rel/dir", "production": "/prod/po", "containers": ["web"]}}`, []string{`project "po": workspace: must be an absolute path, got "rel/dir"`}},
		{"relative production", `{"po": {"workspace": "/ws/po", "production": "./prod", "containers": ["web"]}}`, []string{`project "po": production: must be an absolute path, got "./prod"`}},
		{"same paths", `{"po": {"workspace": "/srv/po", "production": "/srv/po/", "containers": ["web"]}}`, []string{`project "po": production: must differ from workspace`}},
		{"production inside workspace", `{"po": {"workspace": "/srv/po", "production": "/srv/po/prod", "containers": ["web"]}}`, []string{`project "po": production: "/srv/po/prod" is inside workspace "/srv/po"`}},
		{"workspace inside production", `{"po": {"workspace": "/srv/po/ws", "production": "/srv/po", "containers": ["web"]}}`, []string{`project "po": workspace: "/srv/po/ws" is inside production "/srv/po"`}},
		{"production is root", `{"po": {"workspace": "/srv/po", "production": "/", "containers": ["web"]}}`, []string{`project "po": workspace: "/srv/po" is inside production "/"`}},
		{"no containers", `{"po": {"workspace": "/ws/po", "production": "/prod/po"}}`, []string{`project "po": containers: one of compose_project or containers is required`}},
		{"empty container name", `{"po": {"workspace": "/ws/po", "production": "/prod/po", "containers": ["web", ""]}}`, []string{`project "po": containers: item 2 is empty`}},
		{"container twice", `{"po": {"workspace": "/ws/po", "production": "/prod/po", "containers": ["web", "web"]}}`, []string{`project "po": containers: "web" is listed twice`}},
		{"primary not in containers", `{"po": {"primary_container": "api", ` + ok + `}}`, []string{`project "po": primary_container: "api" is not in containers`}},
		{"auto_detect without compose", `{"po": {"auto_detect": true, ` + ok + `}}`, []string{`project "po": auto_detect: needs compose_project`}},
		{"services without compose", `{"po": {"services": ["web"], ` + ok + `}}`, []string{`project "po": services: needs compose_project`}},
		{"bad compose project", `{"po": {"compose_project": "My App", ` + ok + `}}`, []string{`project "po": compose_project: invalid Compose project name "My App"`}},
		{"bad duration", `{"po": {"health_timeout": "soon", ` + ok + `}}`, []string{`project "po": health_timeout: invalid duration "soon"`}},
		{"duration without unit", `{"po": {"health_timeout": "60", ` + ok + `}}`, []string{`project "po": health_timeout: invalid duration "60"`}},
		{"duration as number", `{"po": {"health_timeout": 60, ` + ok + `}}`, []string{`project "po": health_timeout: must be a string, got a number`}},
		{"zero duration", `{"po": {"health_timeout": "0s", ` + ok + `}}`, []string{`project "po": health_timeout: must be positive, got "0s"`}},
		{"negative duration", `{"po": {"health_timeout": "-5s", ` + ok + `}}`, []string{`project "po": health_timeout: must be positive, got "-5s"`}},
		{"bad rebuild", `{"po": {"rebuild": "sometimes", ` + ok + `}}`, []string{`project "po": rebuild: must be "auto", "always" or "never", got "sometimes"`}},
		{"relative health_url", `{"po": {"health_url": "/health", ` + ok + `}}`, []string{`project "po": health_url: must be an absolute http or https URL, got "/health"`}},
		{"ftp health_url", `{"po": {"health_url": "ftp://host/x", ` + ok + `}}`, []string{`project "po": health_url: must be an absolute http or https URL`}},
		{"unparsable health_url", `{"po": {"health_url": "http://[::1", ` + ok + `}}`, []string{`project "po": health_url: must be an absolute http or https URL`}},
		{"bad docker_host", `{"po": {"docker_host": "/var/run/docker.sock", ` + ok + `}}`, []string{`project "po": docker_host: must look like unix://`}},
		{"ssh docker_host", `{"po": {"docker_host": "ssh://me@host", ` + ok + `}}`, []string{`project "po": docker_host:`}},
		{"bad exclude pattern", `{"po": {"exclude": ["[abc"], ` + ok + `}}`, []string{`project "po": exclude: bad pattern "[abc"`}},
		{"empty rebuild_on pattern", `{"po": {"rebuild_on": ["!"], ` + ok + `}}`, []string{`project "po": rebuild_on: empty pattern "!"`}},
		{"two defaults", `{"b": {"default": true, ` + ok + `}, "a": {"default": true, "workspace": "/ws/a", "production": "/prod/a", "containers": ["x"]}}`,
			[]string{`project "b": default: project "a" is already the default`}},
		{"name with space", `{"my app": {` + ok + `}}`, []string{`project "my app": invalid project name`}},
		{"name with slash", `{"a/b": {` + ok + `}}`, []string{`project "a/b": invalid project name`}},
		{"empty name", `{"": {` + ok + `}}`, []string{`project "": invalid project name`}},
		{"name too long", `{"` + strings.Repeat("x", 65) + `": {` + ok + `}}`, []string{`invalid project name: use 1 to 64`}},
		{"dot-dot name", `{"..": {` + ok + `}}`, []string{`project "..": invalid project name`}},
		{"all-digit name", `{"50": {` + ok + `}}`, []string{`project "50": invalid project name: an all-digit name`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.file))
			if err == nil {
				t.Fatalf("Parse succeeded with projects %q; want an error", cfg.Names())
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nlacks %q", err, want)
				}
			}
		})
	}
}

func TestParseAcceptsEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		{"primary with auto_detect and no list", `{"po": {"workspace": "/ws", "production": "/prod", "compose_project": "po", "auto_detect": true, "primary_container": "backend"}}`},
		{"compose project only", `{"po": {"workspace": "/ws", "production": "/prod", "compose_project": "po"}}`},
		{"sibling paths sharing a prefix", `{"po": {"workspace": "/srv/po", "production": "/srv/po-prod", "containers": ["web"]}}`},
		{"byte order mark", "\uFEFF" + `{"po": {"workspace": "/ws", "production": "/prod", "containers": ["web"]}}`},
		{"name with dots and dashes", `{"api.v2_new-1": {"workspace": "/ws", "production": "/prod", "containers": ["web"]}}`},
		{"unix socket docker_host", `{"po": {"workspace": "/ws", "production": "/prod", "containers": ["web"], "docker_host": "unix:///run/user/1000/docker.sock"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.file)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestParseReportsEveryProblemSortedByProject(t *testing.T) {
	file := `{
		"zeta": {"workspace": "rel", "production": "/prod/z", "containers": ["a"]},
		"alpha": {"workspace": "/ws/a", "production": "/prod/a", "containers": ["a"], "colour": 1, "rebuild": "x"},
		"mid": {"workspace": "/ws/m", "production": "/prod/m", "containers": ["m"]}
	}`
	_, err := Parse([]byte(file))
	if err == nil {
		t.Fatal("Parse succeeded; want an error")
	}
	want := strings.Join([]string{
		`project "alpha": unknown key "colour"`,
		`project "alpha": rebuild: must be "auto", "always" or "never", got "x"`,
		`project "zeta": workspace: must be an absolute path, got "rel"`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	var p *problem
	if !errors.As(err, &p) || p.project != "alpha" || p.key != "colour" {
		t.Errorf("first problem = %+v, want project alpha, key colour", p)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.json")
	if err := os.WriteFile(path, []byte(`{"po": {"containrs": []}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), "projects file "+path+`: project "po": unknown key "containrs"`) {
		t.Errorf("Load error = %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncde\nf")
	tests := []struct {
		offset    int64
		line, col int
	}{
		{0, 1, 1}, {1, 1, 1}, {2, 1, 2}, {4, 2, 1}, {6, 2, 3}, {8, 3, 1}, {100, 3, 2},
	}
	for _, tc := range tests {
		line, col := position(data, tc.offset)
		if line != tc.line || col != tc.col {
			t.Errorf("position(%d) = %d:%d, want %d:%d", tc.offset, line, col, tc.line, tc.col)
		}
	}
}

// TestExampleFileLoads keeps the README's full example (every optional key) loadable.
func TestExampleFileLoads(t *testing.T) {
	cfg, err := Load("../examples/scar-projects.example.json")
	if err != nil {
		t.Fatal(err)
	}
	po, err := cfg.Get("project-orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	if po.HealthTimeout != 90*time.Second || po.Rebuild != RebuildAuto || len(po.AllowedUsers) != 1 || cfg.Default() != "project-orchestrator" ||
		!po.Alerts || len(po.AlertChats) != 1 || po.AlertChats[0] != -1001234567890 {
		t.Errorf("example project read as %+v", po)
	}
	blog, _ := cfg.Get("blog")
	if blog.PrimaryContainer != "blog" || blog.Rebuild != RebuildNever || blog.Alerts {
		t.Errorf("blog read as %+v", blog)
	}
	staging, _ := cfg.Get("shop-staging")
	if !staging.IsGit() || staging.Git.Branch != "develop" || staging.Git.SecretEnv != "SHOP_HOOK_SECRET" || staging.Workspace != "" {
		t.Errorf("shop-staging read as %+v (git %+v)", staging, staging.Git)
	}
}

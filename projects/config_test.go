package projects

import (
	"errors"
	"strings"
	"testing"
)

// projectsFile builds a valid file with one project per name; names listed in
// flagged get "default": true.
func projectsFile(t *testing.T, names []string, flagged ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	for i, name := range names {
		if i > 0 {
			b.WriteString(",")
		}
		def := "false"
		for _, f := range flagged {
			if f == name {
				def = "true"
			}
		}
		b.WriteString(`"` + name + `": {"workspace": "/ws/` + name + `", "production": "/prod/` + name +
			`", "compose_project": "` + name + `", "default": ` + def + `}`)
	}
	b.WriteString("}")
	return b.String()
}

func TestResolveDefault(t *testing.T) {
	tests := []struct {
		name     string
		projects []string
		flagged  []string
		env      string // SCAR_DEFAULT_PROJECT
		want     string
		wantErr  error
	}{
		{name: "env default wins over default:true", projects: []string{"a", "b"}, flagged: []string{"b"}, env: "a", want: "a"},
		{name: "default:true", projects: []string{"a", "b", "c"}, flagged: []string{"b"}, want: "b"},
		{name: "only project", projects: []string{"solo"}, want: "solo"},
		{name: "none", projects: []string{"a", "b"}, wantErr: ErrNoDefault},
		{name: "env default unknown", projects: []string{"a", "b"}, env: "zzz", wantErr: ErrUnknownProject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(projectsFile(t, tc.projects, tc.flagged...)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			cfg, err = cfg.WithDefault(tc.env)
			if err == nil {
				var p *Project
				p, err = cfg.Resolve("")
				if err == nil && p.Name != tc.want {
					t.Errorf("Resolve(\"\") = %q, want %q", p.Name, tc.want)
				}
				if err == nil && cfg.Default() != tc.want {
					t.Errorf("Default() = %q, want %q", cfg.Default(), tc.want)
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestConfigLookups(t *testing.T) {
	cfg, err := Parse([]byte(projectsFile(t, []string{"web", "api", "db"})))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := strings.Join(cfg.Names(), ","); got != "api,db,web" {
		t.Errorf("Names = %s", got)
	}
	var all []string
	for _, p := range cfg.All() {
		all = append(all, p.Name)
	}
	if got := strings.Join(all, ","); got != "api,db,web" {
		t.Errorf("All = %s", got)
	}
	if cfg.Default() != "" {
		t.Errorf("Default = %q, want none among three", cfg.Default())
	}

	p, err := cfg.Resolve("db")
	if err != nil || p.Name != "db" || p.Workspace != "/ws/db" {
		t.Errorf("Resolve(db) = %+v, %v", p, err)
	}
	_, err = cfg.Get("nope")
	if !errors.Is(err, ErrUnknownProject) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get(nope) = %v, want ErrUnknownProject naming it", err)
	}

	// A caller changing its copy must not change the config others read.
	p.Workspace = "/elsewhere"
	p.Containers = append(p.Containers, "intruder")
	again, _ := cfg.Get("db")
	if again.Workspace != "/ws/db" || len(again.Containers) != 0 {
		t.Errorf("config changed through a returned project: %+v", again)
	}
}

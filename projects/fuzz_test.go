package projects

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts holds the
// promises the operations rely on.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "seed.scar-projects.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"a": {"workspace": "/w", "production": "/p", "containers": ["x"], "default": true}, "b": {"workspace": "/w2", "production": "/p2", "compose_project": "b"}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a config and an error: %v", err)
			}
			return
		}
		if len(cfg.Names()) == 0 {
			t.Fatal("accepted a file without projects")
		}
		defaults := 0
		for _, p := range cfg.All() {
			checkInvariants(t, p)
			if p.Default {
				defaults++
			}
		}
		if defaults > 1 {
			t.Errorf("accepted %d default projects", defaults)
		}
		if p, err := cfg.Resolve(""); err != nil && !errors.Is(err, ErrNoDefault) {
			t.Errorf("Resolve(\"\") = %v", err)
		} else if err == nil && p.Name != cfg.Default() {
			t.Errorf("Resolve(\"\") = %q, Default() = %q", p.Name, cfg.Default())
		}
	})
}

func checkInvariants(t *testing.T, p *Project) {
	t.Helper()
	if !projectNamePattern.MatchString(p.Name) {
		t.Errorf("accepted project name %q", p.Name)
	}
	if !filepath.IsAbs(p.Workspace) || !filepath.IsAbs(p.Production) {
		t.Errorf("project %q: relative path workspace %q production %q", p.Name, p.Workspace, p.Production)
	}
	if p.Workspace == p.Production || within(p.Workspace, p.Production) || within(p.Production, p.Workspace) {
		t.Errorf("project %q: nested paths workspace %q production %q", p.Name, p.Workspace, p.Production)
	}
	if p.ComposeProject == "" && len(p.Containers) == 0 {
		t.Errorf("project %q: no way to find its containers", p.Name)
	}
	if len(p.Containers) > 0 && !slices.Contains(p.Containers, p.PrimaryContainer) {
		t.Errorf("project %q: primary %q not in containers %q", p.Name, p.PrimaryContainer, p.Containers)
	}
	if p.HealthTimeout <= 0 {
		t.Errorf("project %q: health timeout %v", p.Name, p.HealthTimeout)
	}
	if p.Rebuild != RebuildAuto && p.Rebuild != RebuildAlways && p.Rebuild != RebuildNever {
		t.Errorf("project %q: rebuild %q", p.Name, p.Rebuild)
	}
}

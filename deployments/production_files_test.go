package deployments

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEnvFilesAreProductionsOwn (issue 12 defect 3): a workspace's .env, .env.* and
// *.env are not deployed — the plan lists them as kept and production's stay byte for
// byte — unless the project sets deploy_env_files.
func TestEnvFilesAreProductionsOwn(t *testing.T) {
	ws := map[string]string{
		".env": "SECRET=workspace", ".env.local": "LOCAL=workspace", "config/prod.env": "DB=workspace",
		".env.same": "SAME=1", "app.py": "print(1)",
	}
	prod := map[string]string{".env": "SECRET=production", ".env.same": "SAME=1"}

	t.Run("kept by default", func(t *testing.T) {
		f := newFixture(t)
		writeTree(t, f.ws, ws, t0)
		writeTree(t, f.prod, prod, t0)
		before := treeState(t, f.prod)
		p := f.plan()
		if want := []string{".env", ".env.local", "config/prod.env"}; !slices.Equal(p.Kept, want) {
			t.Errorf("kept = %q, want %q (the env files that differ, not deployed)", p.Kept, want)
		}
		for _, rel := range append(slices.Clone(p.Added), p.Changed...) {
			if isEnvFile(rel) {
				t.Errorf("the plan deploys %s", rel)
			}
		}
		f.deploy()
		after := treeState(t, f.prod)
		for _, rel := range []string{".env", ".env.same"} {
			if after[rel] != before[rel] {
				t.Errorf("production %s = %q, want it kept as %q", rel, after[rel], before[rel])
			}
		}
		for _, rel := range []string{".env.local", "config/prod.env"} {
			if _, ok := after[rel]; ok {
				t.Errorf("production has %s; a workspace env file was deployed", rel)
			}
		}
		if got := readFile(t, filepath.Join(f.prod, "app.py")); got != "print(1)" {
			t.Errorf("app.py = %q, want it deployed", got)
		}
		// A workspace whose only difference is its .env has nothing to deploy.
		writeTree(t, f.ws, map[string]string{".env": "SECRET=changed again"}, t1)
		if p := f.plan(); !p.Empty() || !slices.Contains(p.Kept, ".env") {
			t.Errorf("plan after an .env-only change: empty=%v kept=%q, want empty, .env kept", p.Empty(), p.Kept)
		}
	})

	t.Run("deployed with deploy_env_files", func(t *testing.T) {
		f := newFixture(t)
		writeTree(t, f.ws, ws, t0)
		writeTree(t, f.prod, prod, t0)
		f.project.DeployEnvFiles = true
		p := f.plan()
		if len(p.Kept) != 0 {
			t.Errorf("kept = %q with deploy_env_files, want none", p.Kept)
		}
		if !slices.Contains(p.Changed, ".env") || !slices.Contains(p.Added, "config/prod.env") {
			t.Errorf("plan added %q changed %q, want .env changed and config/prod.env added", p.Added, p.Changed)
		}
		f.deploy()
		for rel, want := range map[string]string{".env": "SECRET=workspace", ".env.local": "LOCAL=workspace", "config/prod.env": "DB=workspace"} {
			if got := readFile(t, filepath.Join(f.prod, rel)); got != want {
				t.Errorf("production %s = %q, want the workspace's %q", rel, got, want)
			}
		}
	})

	t.Run("an env file an earlier deploy wrote is not deleted once env files are kept", func(t *testing.T) {
		f := newFixture(t)
		writeTree(t, f.ws, map[string]string{".env": "SECRET=1", "app.py": "x"}, t0)
		f.project.DeployEnvFiles, f.project.DeleteRemoved = true, true
		f.deploy()
		f.project.DeployEnvFiles = false
		os.Remove(filepath.Join(f.ws, ".env"))
		if p := f.plan(); len(p.Deleted) != 0 {
			t.Errorf("deleted = %q, want production's .env left alone", p.Deleted)
		}
	})
}

// TestSetuidBitsStrippedUnlessOptedIn (issue 12 defect 8): a workspace file's setuid
// and setgid bits are not deployed — the plan names the files — unless the project
// sets deploy_setuid.
func TestSetuidBitsStrippedUnlessOptedIn(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		name := "stripped by default"
		if optIn {
			name = "deployed with deploy_setuid"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			writeTree(t, f.ws, map[string]string{"bin/tool": "t", "bin/grp": "g", "bin/plain": "p"}, t0)
			chmod(t, filepath.Join(f.ws, "bin/tool"), fs.ModeSetuid|0o755)
			chmod(t, filepath.Join(f.ws, "bin/grp"), fs.ModeSetgid|0o755)
			f.project.DeploySetuid = optIn
			p := f.plan()
			wantStripped := []string{"bin/grp", "bin/tool"}
			if optIn {
				wantStripped = nil
			}
			if !slices.Equal(p.SetuidStripped, wantStripped) {
				t.Errorf("setuid_stripped = %q, want %q", p.SetuidStripped, wantStripped)
			}
			f.deploy()
			for rel, ws := range map[string]fs.FileMode{"bin/tool": fs.ModeSetuid | 0o755, "bin/grp": fs.ModeSetgid | 0o755, "bin/plain": 0o644} {
				fi, err := os.Stat(filepath.Join(f.prod, rel))
				if err != nil {
					t.Fatal(err)
				}
				want := ws.Perm()
				if optIn {
					want = ws & permBits
				}
				if got := fi.Mode() & permBits; got != want {
					t.Errorf("production %s mode %v, want %v", rel, got, want)
				}
			}
			if p := f.plan(); !p.Empty() {
				t.Errorf("plan after the deploy: %+v, want nothing to deploy", p)
			}
		})
	}
}

// TestPlanFlagsFilesEditedInProduction (issue 12 defect 8): a production file whose
// content is no longer what the last deploy wrote is named in the plan before it is
// overwritten (or deleted), and the backup keeps the hand edit for a rollback.
func TestPlanFlagsFilesEditedInProduction(t *testing.T) {
	f := newFixture(t)
	f.project.DeleteRemoved = true
	writeTree(t, f.ws, map[string]string{"app/settings.py": "v1", "app/views.py": "v1", "old.py": "v1"}, t0)
	f.deploy()
	if p := f.plan(); len(p.EditedInProduction) != 0 {
		t.Errorf("edited_in_production = %q right after a deploy, want none", p.EditedInProduction)
	}

	writeTree(t, f.prod, map[string]string{"app/settings.py": "DEBUG = False  # hotfix", "old.py": "v1 hotfixed"}, t1)
	writeTree(t, f.ws, map[string]string{"app/settings.py": "v2", "app/views.py": "v2"}, t1)
	os.Remove(filepath.Join(f.ws, "old.py"))
	p := f.plan()
	if want := []string{"app/settings.py", "old.py"}; !slices.Equal(p.EditedInProduction, want) {
		t.Fatalf("edited_in_production = %q, want %q (overwritten or deleted, edited by hand)", p.EditedInProduction, want)
	}
	f.deploy()
	if p := f.plan(); len(p.EditedInProduction) != 0 {
		t.Errorf("edited_in_production = %q after deploying over the edits, want none", p.EditedInProduction)
	}
	if _, err := f.e.Rollback(context.Background(), "shop", "", "r1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(f.prod, "app/settings.py")); got != "DEBUG = False  # hotfix" {
		t.Errorf("after rollback app/settings.py = %q, want the hotfix back", got)
	}
	// Production holds the hotfix again, which is not what the last deploy wrote.
	writeTree(t, f.ws, map[string]string{"app/settings.py": "v3"}, t0)
	if p := f.plan(); !slices.Contains(p.EditedInProduction, "app/settings.py") {
		t.Errorf("edited_in_production = %q after the rollback restored the hotfix, want app/settings.py", p.EditedInProduction)
	}
}

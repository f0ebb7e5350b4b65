package deployments

import (
	"strings"
	"testing"
	"time"
)

func TestMatcher(t *testing.T) {
	type probe struct {
		path  string
		isDir bool
		want  bool
	}
	tests := []struct {
		name     string
		patterns []string
		probes   []probe
	}{
		{"name at any depth", []string{"node_modules"}, []probe{
			{"node_modules", true, true}, {"web/node_modules", true, true}, {"web/node_modules", false, true},
			{"node_modules_x", true, false}, {"x/node_modules/y", false, false}, // y itself: Excluded sees the parent
		}},
		{"glob on base name", []string{"*.log"}, []probe{
			{"app.log", false, true}, {"var/log/app.log", false, true}, {"app.log.1", false, false}, {"log", false, false},
		}},
		{"question mark and class", []string{"file?.txt", "[ab].md", "[!c]x"}, []probe{
			{"file1.txt", false, true}, {"file12.txt", false, false}, {"a.md", false, true}, {"c.md", false, false},
			{"dx", false, true}, {"cx", false, false},
		}},
		{"directories only", []string{"build/"}, []probe{
			{"build", true, true}, {"build", false, false}, {"src/build", true, true},
		}},
		{"anchored with leading slash", []string{"/config.local"}, []probe{
			{"config.local", false, true}, {"app/config.local", false, false},
		}},
		{"anchored by inner slash", []string{"docs/internal"}, []probe{
			{"docs/internal", true, true}, {"x/docs/internal", true, false},
		}},
		{"double star prefix", []string{"**/tmp"}, []probe{
			{"tmp", true, true}, {"a/tmp", true, true}, {"a/b/c/tmp", false, true}, {"a/tmpx", true, false},
		}},
		{"double star middle", []string{"a/**/b"}, []probe{
			{"a/b", false, true}, {"a/x/b", false, true}, {"a/x/y/z/b", false, true}, {"x/a/b", false, false}, {"a/b/c", false, false},
		}},
		{"double star suffix", []string{"logs/**"}, []probe{
			{"logs", true, false}, {"logs/a", false, true}, {"logs/a/b", false, true},
		}},
		{"negation, last match wins", []string{"*.log", "!keep.log"}, []probe{
			{"a.log", false, true}, {"keep.log", false, false}, {"x/keep.log", false, false},
		}},
		{"negation before a match loses", []string{"!keep.log", "*.log"}, []probe{
			{"keep.log", false, true},
		}},
		{"comments, blanks, escapes, trailing spaces", []string{"# comment", "", `\#hash`, `\!bang`, "spaced   "}, []probe{
			{"# comment", false, false}, {"#hash", false, true}, {"!bang", false, true}, {"spaced", false, true},
		}},
		{"defaults", DefaultExcludes, []probe{
			{".git", true, true}, {"pkg/__pycache__", true, true}, {"x/y.pyc", false, true}, {"y.py", false, false},
			{".gitignore", false, false}, {".github", true, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMatcher(tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.probes {
				if got := m.Match(p.path, p.isDir); got != p.want {
					t.Errorf("Match(%q, dir=%v) = %v, want %v", p.path, p.isDir, got, p.want)
				}
			}
		})
	}
}

func TestMatcherExcludedCoversChildren(t *testing.T) {
	m, err := NewMatcher([]string{"build/", "*.log", "!important.log"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"build/out/app", false, true},
		{"build/important.log", false, true}, // git cannot re-include inside an excluded directory
		{"src/important.log", false, false},
		{"src/app.log", false, true},
		{"src/main.go", false, false},
	}
	for _, tc := range tests {
		if got := m.Excluded(tc.path, tc.isDir); got != tc.want {
			t.Errorf("Excluded(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestMatcherRefusesMalformedPattern(t *testing.T) {
	for _, p := range []string{"[", "a/[b", `x\`} {
		if _, err := NewMatcher([]string{p}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("NewMatcher(%q) = %v; want an error naming the pattern", p, err)
		}
	}
}

// FuzzExclude checks that any pattern compiles or fails cleanly, that matching never
// panics nor takes long however many ** a pattern has, and that what Excluded says of
// a directory it says of everything in it.
func FuzzExclude(f *testing.F) {
	for _, s := range []struct{ pattern, path string }{
		{"*.log", "a/b.log"}, {"build/", "build/x"}, {"/anchored", "anchored"}, {"**/tmp", "a/tmp/b"},
		{"a/**/b", "a/x/y/b"}, {"!keep", "keep"}, {"[!a-c]?", "dz"}, {`\#x`, "#x"},
		{"**/**/**/**/**/**/**/**/x", strings.Repeat("a/", 40) + "y"},
	} {
		f.Add(s.pattern, s.path, false)
	}
	f.Fuzz(func(t *testing.T, pattern, p string, isDir bool) {
		m, err := NewMatcher(strings.Split(pattern, "\n"))
		if err != nil {
			return
		}
		start := time.Now()
		got := m.Match(p, isDir)
		if m.Match(p, isDir) != got {
			t.Fatalf("Match(%q) not deterministic for %q", p, pattern)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Match(%q) against %q took %v", p, pattern, d)
		}
		if m.Excluded(p, true) {
			for _, child := range []string{p + "/x", p + "/x/y.txt"} {
				if !m.Excluded(child, false) {
					t.Fatalf("patterns %q exclude directory %q but not %q", pattern, p, child)
				}
			}
		}
	})
}

package projects

import (
	"strings"
	"testing"
	"time"
)

func TestParseStageTimeouts(t *testing.T) {
	const ok = `"workspace": "/ws/po", "production": "/prod/po", "containers": ["web"]`
	tests := []struct {
		name         string
		keys         string
		build, apply time.Duration
		err          string
	}{
		{"defaults", ``, DefaultBuildTimeout, DefaultApplyTimeout, ""},
		{"both given", `"build_timeout": "20m", "apply_timeout": "90s", `, 20 * time.Minute, 90 * time.Second, ""},
		{"one given", `"apply_timeout": "1m", `, DefaultBuildTimeout, time.Minute, ""},
		{"no unit", `"build_timeout": "600", `, 0, 0, `project "po": build_timeout: invalid duration "600"`},
		{"a number", `"apply_timeout": 60, `, 0, 0, `project "po": apply_timeout: must be a string, got a number`},
		{"zero", `"build_timeout": "0s", `, 0, 0, `project "po": build_timeout: must be positive, got "0s"`},
		{"negative", `"apply_timeout": "-1m", `, 0, 0, `project "po": apply_timeout: must be positive, got "-1m"`},
		{"twice", `"build_timeout": "1m", "build_timeout": "2m", `, 0, 0, `project "po": build_timeout: given more than once`},
		{"typo", `"build_timout": "1m", `, 0, 0, `unknown key "build_timout" (did you mean "build_timeout"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(`{"po": {` + tc.keys + ok + `}}`))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			p, _ := cfg.Get("po")
			if p.BuildTimeout != tc.build || p.ApplyTimeout != tc.apply {
				t.Errorf("build_timeout %s, apply_timeout %s; want %s, %s", p.BuildTimeout, p.ApplyTimeout, tc.build, tc.apply)
			}
		})
	}
}

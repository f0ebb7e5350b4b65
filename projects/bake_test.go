package projects

import (
	"strings"
	"testing"
	"time"
)

func TestParseBakeTime(t *testing.T) {
	const ok = `"workspace": "/ws/po", "production": "/prod/po", "containers": ["web"]`
	tests := []struct {
		name string
		keys string
		want time.Duration
		err  string
	}{
		{"default", ``, DefaultBakeTime, ""},
		{"given", `"bake_time": "30s", `, 30 * time.Second, ""},
		{"zero turns it off", `"bake_time": "0", `, 0, ""},
		{"zero with a unit", `"bake_time": "0s", `, 0, ""},
		{"no unit", `"bake_time": "120", `, 0, `project "po": bake_time: invalid duration "120"`},
		{"a number", `"bake_time": 120, `, 0, `project "po": bake_time: must be a string, got a number`},
		{"negative", `"bake_time": "-1m", `, 0, `project "po": bake_time: must not be negative, got "-1m"`},
		{"typo", `"bake_tme": "1m", `, 0, `unknown key "bake_tme" (did you mean "bake_time"?)`},
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
			if p.BakeTime != tc.want {
				t.Errorf("bake_time %s, want %s", p.BakeTime, tc.want)
			}
		})
	}
}

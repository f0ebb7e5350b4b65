package projects

import (
	"encoding/json"
	"time"
)

// Default deadlines of a deploy's stages: a build or an apply still running then is
// cancelled and the deploy rolled back, so that a hung `compose build` cannot keep a
// project busy until scar restarts.
const (
	DefaultBuildTimeout = 10 * time.Minute
	DefaultApplyTimeout = 5 * time.Minute
)

// keepStageTimeout stores a stage deadline key's string for checkStageTimeouts.
func (c *checker) keepStageTimeout(key string, value json.RawMessage) error {
	s, err := asString(value)
	if err != nil {
		return err
	}
	if c.stageTimeouts == nil {
		c.stageTimeouts = map[string]string{}
	}
	c.stageTimeouts[key] = s
	return nil
}

// checkStageTimeouts parses build_timeout and apply_timeout, durations like
// health_timeout, and applies their defaults.
func checkStageTimeouts(c *checker, p *Project) {
	for _, k := range []struct {
		key string
		to  *time.Duration
		def time.Duration
	}{
		{"build_timeout", &p.BuildTimeout, DefaultBuildTimeout},
		{"apply_timeout", &p.ApplyTimeout, DefaultApplyTimeout},
	} {
		*k.to = k.def
		given, ok := c.stageTimeouts[k.key]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(given)
		switch {
		case err != nil:
			c.addf(k.key, "invalid duration %q: use a number with a unit, like \"10m\" or \"90s\"", given)
		case d <= 0:
			c.addf(k.key, "must be positive, got %q", given)
		default:
			*k.to = d
		}
	}
}

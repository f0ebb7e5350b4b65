package projects

import "time"

// DefaultBakeTime is how long a deploy is watched after it passes the health gate
// when the project does not say (bake_time).
const DefaultBakeTime = 2 * time.Minute

// checkBakeTime parses bake_time, a duration like build_timeout where "0" turns the
// bake off, and applies its default.
func checkBakeTime(c *checker, p *Project) {
	p.BakeTime = DefaultBakeTime
	given, ok := c.stageTimeouts["bake_time"]
	if !ok {
		return
	}
	d, err := time.ParseDuration(given)
	switch {
	case err != nil:
		c.addf("bake_time", "invalid duration %q: use a number with a unit, like \"2m\" or \"90s\", or \"0\" to turn the bake off", given)
	case d < 0:
		c.addf("bake_time", "must not be negative, got %q", given)
	default:
		p.BakeTime = d
	}
}

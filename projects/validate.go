package projects

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// knownKeys are the keys a project may have; anything else is a typo worth stopping for.
var knownKeys = []string{
	"workspace", "production", "compose_project", "containers", "primary_container",
	"auto_detect", "default", "exclude", "rebuild", "rebuild_on", "services",
	"delete_removed", "health_timeout", "health_url", "docker_host", "allowed_users",
	"deploy_env_files", "deploy_setuid",
	"build_timeout", "apply_timeout",
	"alert_chats", "alerts",
	"bake_time",
	"git",
}

// Project names appear in URLs, directory names and Telegram commands.
var projectNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// The rule Compose v2 enforces; a name it refuses could never be deployed.
var composeProjectPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// dockerHostSchemes are the DOCKER_HOST forms the Engine API client can dial itself.
var dockerHostSchemes = []string{"unix", "tcp", "npipe", "http", "https"}

// checker collects the problems of one project.
type checker struct {
	project  string
	problems []*problem
	// stageTimeouts holds the stage deadline keys as given (see checkStageTimeouts).
	stageTimeouts map[string]string
}

func (c *checker) addf(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	c.problems = append(c.problems, &problem{project: c.project, key: key, msg: msg})
}

// parseProject decodes and validates one project and applies its defaults. The
// project is only meaningful when no problems are returned.
func parseProject(name string, raw json.RawMessage) (*Project, []*problem) {
	c := &checker{project: name}
	checkName(c, name)
	members, ok := objectMembers(raw)
	if !ok {
		c.addf("", "must be an object, got %s", kindOf(raw))
		return nil, c.problems
	}

	p := &Project{Name: name, Alerts: true}
	var healthTimeout string
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.key] {
			c.addf(m.key, "given more than once")
			continue
		}
		seen[m.key] = true
		decodeKey(c, p, &healthTimeout, m)
	}

	checkGit(c, p, seen["workspace"])
	checkPaths(c, p)
	checkContainers(c, p)
	checkOptions(c, p, healthTimeout, seen["health_timeout"])
	checkStageTimeouts(c, p)
	checkBakeTime(c, p)
	return p, c.problems
}

// decodeKey stores one member in p, refusing unknown keys and wrong JSON types.
func decodeKey(c *checker, p *Project, healthTimeout *string, m member) {
	var err error
	switch m.key {
	case "workspace":
		p.Workspace, err = asString(m.value)
	case "production":
		p.Production, err = asString(m.value)
	case "compose_project":
		p.ComposeProject, err = asString(m.value)
	case "containers":
		p.Containers, err = asStrings(m.value)
	case "primary_container":
		p.PrimaryContainer, err = asString(m.value)
	case "auto_detect":
		p.AutoDetect, err = asBool(m.value)
	case "default":
		p.Default, err = asBool(m.value)
	case "exclude":
		p.Exclude, err = asStrings(m.value)
	case "rebuild":
		p.Rebuild, err = asString(m.value)
	case "rebuild_on":
		p.RebuildOn, err = asStrings(m.value)
	case "services":
		p.Services, err = asStrings(m.value)
	case "delete_removed":
		p.DeleteRemoved, err = asBool(m.value)
	case "deploy_env_files":
		p.DeployEnvFiles, err = asBool(m.value)
	case "deploy_setuid":
		p.DeploySetuid, err = asBool(m.value)
	case "health_timeout":
		*healthTimeout, err = asString(m.value)
	case "health_url":
		p.HealthURL, err = asString(m.value)
	case "docker_host":
		p.DockerHost, err = asString(m.value)
	case "allowed_users":
		p.AllowedUsers, err = asUserIDs(m.value)
	case "build_timeout", "apply_timeout", "bake_time":
		err = c.keepStageTimeout(m.key, m.value)
	case "alert_chats":
		p.AlertChats, err = asChatIDs(m.value)
	case "alerts":
		p.Alerts, err = asBool(m.value)
	case "git":
		p.Git, err = asGitSource(m.value)
	default:
		msg := fmt.Sprintf("unknown key %q", m.key)
		if near := closestKey(m.key); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		c.problems = append(c.problems, &problem{project: c.project, key: m.key, msg: msg})
		return
	}
	if err != nil {
		c.addf(m.key, "%v", err)
	}
}

func checkName(c *checker, name string) {
	switch {
	case !projectNamePattern.MatchString(name):
		c.addf("", "invalid project name: use 1 to 64 letters, digits, '-', '_' or '.'")
	case strings.Trim(name, ".") == "":
		c.addf("", "invalid project name: it would name a parent or current directory")
	case isDigits(name):
		// "/docker_logs 50" means 50 lines of the default project.
		c.addf("", "invalid project name: an all-digit name reads as a line count in Telegram commands")
	}
}

// checkPaths requires absolute, cleaned, non-nested workspace and production paths.
func checkPaths(c *checker, p *Project) {
	prod := checkAbsolute(c, "production", p.Production)
	if p.Git != nil {
		// Its workspace is scar's checkout, set by Config.WithCheckouts.
		p.Production = prod
		return
	}
	ws := checkAbsolute(c, "workspace", p.Workspace)
	if ws == "" || prod == "" {
		return
	}
	p.Workspace, p.Production = ws, prod
	switch {
	case ws == prod:
		c.addf("production", "must differ from workspace (both are %q)", ws)
	case within(prod, ws):
		c.addf("production", "%q is inside workspace %q; a deploy would copy into itself", prod, ws)
	case within(ws, prod):
		c.addf("workspace", "%q is inside production %q; a deploy would copy into itself", ws, prod)
	}
}

// checkAbsolute returns the cleaned path, or "" after reporting why it is unusable.
func checkAbsolute(c *checker, key, dir string) string {
	switch {
	case dir == "":
		c.addf(key, "required")
		return ""
	case !filepath.IsAbs(dir):
		c.addf(key, "must be an absolute path, got %q", dir)
		return ""
	}
	return filepath.Clean(dir)
}

// within reports whether the cleaned absolute path inner lies below outer.
func within(inner, outer string) bool {
	rel, err := filepath.Rel(outer, inner)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func checkContainers(c *checker, p *Project) {
	if p.ComposeProject != "" && !composeProjectPattern.MatchString(p.ComposeProject) {
		c.addf("compose_project", "invalid Compose project name %q: use lowercase letters, digits, '-' and '_', starting with a letter or digit", p.ComposeProject)
	}
	checkItems(c, "containers", p.Containers)
	if p.ComposeProject == "" && len(p.Containers) == 0 {
		c.addf("containers", "one of compose_project or containers is required")
	}
	if p.AutoDetect && p.ComposeProject == "" {
		c.addf("auto_detect", "needs compose_project: containers are detected by its Compose label")
	}
	if len(p.Services) > 0 && p.ComposeProject == "" {
		c.addf("services", "needs compose_project: services are Compose services")
	}
	checkItems(c, "services", p.Services)

	switch {
	case p.PrimaryContainer == "" && len(p.Containers) > 0:
		p.PrimaryContainer = p.Containers[0]
	case p.PrimaryContainer != "" && len(p.Containers) > 0 && !slices.Contains(p.Containers, p.PrimaryContainer):
		c.addf("primary_container", "%q is not in containers %q", p.PrimaryContainer, p.Containers)
	}
	// With no containers list the primary can only be checked against the running
	// Compose project, which the operations do.
}

// checkItems refuses empty and repeated names in a list of names.
func checkItems(c *checker, key string, items []string) {
	for i, item := range items {
		switch {
		case strings.TrimSpace(item) == "":
			c.addf(key, "item %d is empty", i+1)
		case slices.Index(items, item) < i:
			c.addf(key, "%q is listed twice", item)
		}
	}
}

func checkOptions(c *checker, p *Project, healthTimeout string, timeoutGiven bool) {
	switch p.Rebuild {
	case "":
		p.Rebuild = RebuildAuto
	case RebuildAuto, RebuildAlways, RebuildNever:
	default:
		c.addf("rebuild", "must be %q, %q or %q, got %q", RebuildAuto, RebuildAlways, RebuildNever, p.Rebuild)
	}

	p.HealthTimeout = DefaultHealthTimeout
	if timeoutGiven {
		d, err := time.ParseDuration(healthTimeout)
		switch {
		case err != nil:
			c.addf("health_timeout", "invalid duration %q: use a number with a unit, like \"60s\" or \"2m\"", healthTimeout)
		case d <= 0:
			c.addf("health_timeout", "must be positive, got %q", healthTimeout)
		default:
			p.HealthTimeout = d
		}
	}

	if p.HealthURL != "" {
		u, err := url.Parse(p.HealthURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.addf("health_url", "must be an absolute http or https URL, got %q", p.HealthURL)
		}
	}

	if p.DockerHost != "" {
		scheme, addr, found := strings.Cut(p.DockerHost, "://")
		if !found || addr == "" || !slices.Contains(dockerHostSchemes, scheme) {
			c.addf("docker_host", "must look like unix:///var/run/docker.sock or tcp://host:2376 (schemes: %s), got %q",
				strings.Join(dockerHostSchemes, ", "), p.DockerHost)
		}
	}

	checkPatterns(c, "exclude", p.Exclude)
	checkPatterns(c, "rebuild_on", p.RebuildOn)

	for _, id := range p.AllowedUsers {
		if id <= 0 {
			c.addf("allowed_users", "%d is not a Telegram user id (they are positive)", id)
		}
	}
}

// checkPatterns refuses gitignore-style patterns that path.Match cannot compile;
// the leading "!" (negation) and "/" (anchor) are gitignore syntax, not glob.
func checkPatterns(c *checker, key string, patterns []string) {
	for _, pat := range patterns {
		glob := strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/")
		if strings.TrimSpace(glob) == "" {
			c.addf(key, "empty pattern %q", pat)
			continue
		}
		if _, err := path.Match(glob, ""); err != nil {
			c.addf(key, "bad pattern %q: %v", pat, err)
		}
	}
}

func asString(raw json.RawMessage) (string, error) {
	var s string
	if kindOf(raw) != "a string" || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("must be a string, got %s", kindOf(raw))
	}
	return s, nil
}

func asBool(raw json.RawMessage) (bool, error) {
	var b bool
	if kindOf(raw) != "a boolean" || json.Unmarshal(raw, &b) != nil {
		return false, fmt.Errorf("must be true or false, got %s", kindOf(raw))
	}
	return b, nil
}

func asStrings(raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if kindOf(raw) != "a list" || json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Errorf("must be a list of strings, got %s", kindOf(raw))
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, err := asString(item)
		if err != nil {
			return nil, fmt.Errorf("item %d %w", i+1, err)
		}
		out[i] = s
	}
	return out, nil
}

func asUserIDs(raw json.RawMessage) ([]int64, error) {
	var items []json.RawMessage
	if kindOf(raw) != "a list" || json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Errorf("must be a list of Telegram user ids, got %s", kindOf(raw))
	}
	out := make([]int64, len(items))
	for i, item := range items {
		id, err := strconv.ParseInt(string(item), 10, 64)
		if kindOf(item) != "a number" || err != nil {
			return nil, fmt.Errorf("item %d must be an integer user id, got %s", i+1, item)
		}
		out[i] = id
	}
	return out, nil
}

// asChatIDs decodes a list of Telegram chat ids: positive for a private chat,
// negative for a group; 0 is none.
func asChatIDs(raw json.RawMessage) ([]int64, error) {
	var items []json.RawMessage
	if kindOf(raw) != "a list" || json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Errorf("must be a list of Telegram chat ids, got %s", kindOf(raw))
	}
	out := make([]int64, len(items))
	for i, item := range items {
		id, err := strconv.ParseInt(string(item), 10, 64)
		if kindOf(item) != "a number" || err != nil || id == 0 {
			return nil, fmt.Errorf("item %d must be a Telegram chat id (a user id, or a negative group id like -1001234567890), got %s", i+1, item)
		}
		out[i] = id
	}
	return out, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// closestKey suggests the known key a typo was probably meant to be.
func closestKey(key string) string {
	best, bestDist := "", 3 // farther than two edits is no longer a typo
	for _, k := range knownKeys {
		if abs(len(key)-len(k)) >= bestDist {
			continue
		}
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

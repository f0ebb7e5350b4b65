package projects

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
)

// utf8BOM is stripped before parsing: editors on Windows like to write one, and
// encoding/json rejects it with an error that names an invisible character.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Load reads and validates the projects file at path. Every problem of the file is
// reported, each naming its project and key, after a "projects file <path>:" prefix.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read projects file: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("projects file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse validates the contents of a projects file: a JSON object of project name to
// project. The returned projects have their defaults applied. When the file has
// several problems, the error joins them all, sorted by project name.
func Parse(data []byte) (*Config, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file: expected a JSON object of project name to project")
	}
	// Unmarshal checks the whole input before decoding, so a syntax error carries the
	// byte offset we turn into a line and column.
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		return nil, syntaxError(data, err)
	}
	members, ok := objectMembers(data)
	if !ok {
		return nil, fmt.Errorf("top level must be an object of project name to project, got %s", kindOf(data))
	}
	if len(members) == 0 {
		return nil, errors.New("no projects: the top-level object is empty")
	}

	var problems []*problem
	projects := make(map[string]*Project, len(members))
	for _, m := range members {
		if _, dup := projects[m.key]; dup {
			problems = append(problems, &problem{project: m.key, msg: "defined more than once"})
			continue
		}
		p, probs := parseProject(m.key, m.value)
		problems = append(problems, probs...)
		projects[m.key] = p
	}
	problems = append(problems, checkSingleDefault(projects)...)
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}
	return newConfig(projects), nil
}

// checkSingleDefault refuses a second "default": true; the first by name keeps it so
// the message is the same on every run.
func checkSingleDefault(projects map[string]*Project) []*problem {
	var flagged []string
	for name, p := range projects {
		if p != nil && p.Default {
			flagged = append(flagged, name)
		}
	}
	sort.Strings(flagged)
	var problems []*problem
	for _, name := range flagged[min(1, len(flagged)):] {
		problems = append(problems, &problem{project: name, key: "default",
			msg: fmt.Sprintf("default: project %q is already the default; only one project can be", flagged[0])})
	}
	return problems
}

// problem is one thing wrong with one project, usually with one of its keys.
type problem struct {
	project string
	key     string
	msg     string // starts with the key where there is one
}

func (p *problem) Error() string {
	return fmt.Sprintf("project %q: %s", p.project, p.msg)
}

func joinProblems(problems []*problem) error {
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].project < problems[j].project })
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// syntaxError says where in the file the JSON broke, as an editor would show it.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	line, col := position(data, se.Offset)
	return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
}

// position turns the offset of a json.SyntaxError (bytes read when the error was
// noticed, so the culprit is the byte before it) into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	at := int(max(0, min(offset-1, int64(len(data)))))
	before := data[:at]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = at - bytes.LastIndexByte(before, '\n')
	return line, col
}

// member is one key and value of a JSON object, in file order.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers lists the members of a JSON object, keeping duplicates (which a map
// would hide) and file order. ok is false when raw is not an object. raw must be valid
// JSON.
func objectMembers(raw []byte) (members []member, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, isString := tok.(string)
		if !isString {
			return nil, false
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		members = append(members, member{key: key, value: value})
	}
	return members, true
}

// kindOf names the JSON type of a valid value, for "must be X, got Y" messages.
func kindOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

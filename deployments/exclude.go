package deployments

import (
	"fmt"
	"path"
	"strings"
)

// DefaultExcludes are left out of every deploy, whatever the project's exclude says.
var DefaultExcludes = []string{".git", "__pycache__", "*.pyc"}

// Matcher matches slash-separated paths relative to a tree's root against
// gitignore-style patterns:
//
//	name      the base name at any depth (also *.log, file?.txt, [abc].txt)
//	dir/      directories only
//	/name     anchored at the root; so is any pattern with a slash inside (a/b)
//	**/tmp    tmp at any depth; a/**/b with zero or more directories between; a/** all inside a
//	!pattern  re-includes what an earlier pattern matched
//
// The last pattern that matches decides. Blank lines and lines starting with # are
// ignored; \! and \# escape a leading ! or #. A Matcher is safe for concurrent use.
type Matcher struct {
	rules []rule
	// anchored is whether any rule needs the path's segments, not just its base name.
	anchored bool
}

type rule struct {
	raw     string
	segs    []string // "**" is any number of segments
	literal []bool   // segs[i] has no wildcard: compare as a string
	dirOnly bool
	negate  bool
	// base rules have one segment and match the base name at any depth.
	base bool
}

// NewMatcher compiles patterns; a malformed one is an error naming it.
func NewMatcher(patterns []string) (*Matcher, error) {
	m := &Matcher{}
	for _, p := range patterns {
		r, ok, err := compileRule(p)
		if err != nil {
			return nil, fmt.Errorf("exclude pattern %q: %w", p, err)
		}
		if !ok {
			continue
		}
		if !r.base {
			m.anchored = true
		}
		m.rules = append(m.rules, r)
	}
	return m, nil
}

// compileRule parses one pattern; ok is false for blank lines and comments.
func compileRule(p string) (r rule, ok bool, err error) {
	r.raw = p
	p = trimTrailingSpaces(p)
	if p == "" || p[0] == '#' {
		return r, false, nil
	}
	switch {
	case p[0] == '!':
		r.negate = true
		p = p[1:]
	case strings.HasPrefix(p, `\!`), strings.HasPrefix(p, `\#`):
		p = p[1:]
	}
	if strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = strings.TrimRight(p, "/")
	}
	anchored := strings.Contains(p, "/")
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			r.segs = append(r.segs, bracketNegation(s))
		}
	}
	if len(r.segs) == 0 {
		return r, false, nil
	}
	for _, s := range r.segs {
		if _, err := path.Match(s, ""); err != nil {
			return r, false, err
		}
		r.literal = append(r.literal, !strings.ContainsAny(s, `*?[\`))
	}
	// Without a slash there is one segment, matched against the base name at any depth.
	r.base = !anchored
	return r, true, nil
}

// trimTrailingSpaces drops trailing spaces unless escaped with a backslash, as git does.
func trimTrailingSpaces(p string) string {
	for strings.HasSuffix(p, " ") && !strings.HasSuffix(p, `\ `) {
		p = p[:len(p)-1]
	}
	return p
}

// bracketNegation rewrites gitignore's [!...] as path.Match's [^...].
func bracketNegation(s string) string {
	if !strings.Contains(s, "[!") {
		return s
	}
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '[':
			if i+1 < len(b) && b[i+1] == '!' {
				b[i+1] = '^'
			}
		}
	}
	return string(b)
}

// Match reports whether rel itself is matched (the last matching pattern decides).
// It does not look at rel's parents; see Excluded.
func (m *Matcher) Match(rel string, isDir bool) bool {
	if m == nil || len(m.rules) == 0 {
		return false
	}
	base := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		base = rel[i+1:]
	}
	var parts []string
	matched := false
	for i := len(m.rules) - 1; i >= 0; i-- {
		r := &m.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		var hit bool
		if r.base {
			hit = matchSegment(r.segs[0], r.literal[0], base)
		} else {
			if parts == nil {
				parts = strings.Split(rel, "/")
			}
			hit = r.matchParts(parts)
		}
		if hit {
			matched = !r.negate
			break
		}
	}
	return matched
}

// Excluded reports whether rel or any directory above it is matched: as in git, a
// file inside an excluded directory cannot be re-included.
func (m *Matcher) Excluded(rel string, isDir bool) bool {
	if m == nil || len(m.rules) == 0 {
		return false
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && m.Match(rel[:i], true) {
			return true
		}
	}
	return m.Match(rel, isDir)
}

func matchSegment(pattern string, literal bool, name string) bool {
	if literal {
		return pattern == name
	}
	ok, _ := path.Match(pattern, name) // compileRule validated the pattern
	return ok
}

// matchParts matches the rule's segments against a path's, "**" standing for any
// number of segments (at least one when it ends the pattern, as a/** is a's contents).
// Dynamic programming over two rows keeps it linear in segments × parts, so a pattern
// of many "**" cannot blow up.
func (r *rule) matchParts(parts []string) bool {
	n := len(parts)
	var bufA, bufB [32]bool
	next, cur := bufA[:0], bufB[:0]
	if n+1 > len(bufA) {
		next, cur = make([]bool, 0, n+1), make([]bool, 0, n+1)
	}
	next, cur = next[:n+1], cur[:n+1]
	// next[j]: segs[i+1:] matches parts[j:]; starts as the empty pattern.
	for j := range next {
		next[j] = j == n
	}
	last := len(r.segs) - 1
	for i := last; i >= 0; i-- {
		seg := r.segs[i]
		for j := n; j >= 0; j-- {
			switch {
			case seg == "**" && i == last:
				cur[j] = j < n
			case seg == "**":
				cur[j] = next[j] || (j < n && cur[j+1])
			default:
				cur[j] = j < n && next[j+1] && matchSegment(seg, r.literal[i], parts[j])
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

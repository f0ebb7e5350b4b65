package dockerops

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// rollbackRepo is the repository of the images kept for rolling back: the project's
// and the target's names as valid, distinct path components.
const rollbackRepo = "scar-rollback/"

var (
	// validComponent is the grammar of a path component of an image name.
	validComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// validTag is the grammar of an image tag.
	validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// rollbackTag is scar-rollback/<project>/<target>:<deploy-id>, each part made valid
// and kept distinct: see imageComponent and imageTag.
func rollbackTag(project, target, deployID string) string {
	return rollbackRepoPrefix(project) + imageComponent(target) + ":" + imageTag(deployID)
}

// rollbackRepoPrefix is the part of a project's rollback tags before the target.
func rollbackRepoPrefix(project string) string {
	return rollbackRepo + imageComponent(project) + "/"
}

// imageComponent returns name when it is already a valid path component of an image
// name; otherwise its lowercased, cleaned form (anything else becomes '-', separators
// trimmed from the ends) followed by '-' and 8 hex digits of its SHA-256. "App" and
// "app", "-x" and "x", "x." and "x" so get distinct valid names; a name that needed
// no cleaning keeps it, so the tags of existing projects do not move.
func imageComponent(name string) string {
	if validComponent.MatchString(name) && len(name) <= 64 {
		return name
	}
	return cleaned(name, 48) + "-" + shortHash(name)
}

// imageTag is deployID as a valid tag: as is when it is one (scar's ids are), else
// cleaned and suffixed like imageComponent.
func imageTag(deployID string) string {
	if validTag.MatchString(deployID) {
		return deployID
	}
	return cleaned(deployID, 100) + "-" + shortHash(deployID)
}

// cleaned lowercases s, turns every character a component cannot hold into '-',
// collapses runs of separators and trims them from the ends; "x" when nothing is left.
func cleaned(s string, max int) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(r)
			continue
		}
		sep = true
	}
	out := b.String()
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		return "x"
	}
	return out
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

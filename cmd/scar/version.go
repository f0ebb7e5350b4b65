package main

import (
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=..."; when it is not,
// the version comes from what the Go toolchain stamped into the binary.
var version = "dev"

// currentVersion is scar's version: -X main.version when set, else the module
// version Go stamped (a tag, or a pseudo-version from the commit), else the commit,
// else "dev".
func currentVersion() string {
	info, _ := debug.ReadBuildInfo()
	v, _ := versionOf(version, info)
	return v
}

// describeVersion is what `scar version` prints: the version and, when the binary
// was built from a checkout, the commit, its time and whether the tree was modified.
func describeVersion() string {
	info, _ := debug.ReadBuildInfo()
	v, detail := versionOf(version, info)
	if detail == "" {
		return v
	}
	return v + " (" + detail + ")"
}

// versionOf derives the version and its VCS detail from an -X override and the
// build info (nil when the binary has none).
func versionOf(override string, info *debug.BuildInfo) (v, detail string) {
	var revision, at string
	modified := false
	if info != nil {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	short := revision
	if len(short) > 12 {
		short = short[:12]
	}
	switch {
	case override != "" && override != "dev":
		v = override
	case info != nil && info.Main.Version != "" && info.Main.Version != "(devel)":
		v = info.Main.Version
	case short != "":
		v = short
		if modified {
			v += "+dirty"
		}
	default:
		v = "dev"
	}
	if revision == "" {
		return v, ""
	}
	parts := []string{"commit " + short}
	if at != "" {
		parts = append(parts, at)
	}
	if modified {
		parts = append(parts, "modified")
	}
	if info.GoVersion != "" {
		parts = append(parts, info.GoVersion)
	}
	return v, strings.Join(parts, ", ")
}

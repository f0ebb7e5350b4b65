package deployments

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/scar-dev/scar/projects"
)

// PlanStamp names everything a plan of p reads besides the two trees: the project's
// settings that shape the comparison, and the manifest file as it is on disk (by its
// inode, size, mtime and ctime: a deploy replaces it by a rename). Two plans with the
// same stamp, of trees that did not change in between, are the same plan; a caller
// that can tell the trees did not change (a file watch) may reuse the first.
func (e *Engine) PlanStamp(p *projects.Project) (string, error) {
	var b strings.Builder
	field := func(s string) { b.WriteString(strconv.Quote(s)); b.WriteByte(' ') }
	field(p.Name)
	field(p.Workspace)
	field(p.Production)
	field(p.Rebuild)
	field(strconv.FormatBool(p.DeleteRemoved))
	field(strconv.FormatBool(p.DeployEnvFiles))
	field(strconv.FormatBool(p.DeploySetuid))
	field(fmt.Sprintf("%q", p.Exclude))
	field(fmt.Sprintf("%q", p.RebuildOn))
	fi, err := os.Stat(e.manifestPath(p.Name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b.WriteString("no-manifest")
	case err != nil:
		return "", fmt.Errorf("stamp plan of %s: %w", p.Name, err)
	default:
		fmt.Fprintf(&b, "manifest %d %d", fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, " %d %d %d.%d", st.Dev, st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
		}
	}
	return b.String(), nil
}

// Paths counts the paths the plan lists: what keeping it costs.
func (p *Plan) Paths() int {
	return len(p.writes) + len(p.mkdirs) + len(p.touched) + len(p.replaced) + len(p.removedDirs) +
		len(p.Deleted) + len(p.Kept) + len(p.SetuidStripped)
}

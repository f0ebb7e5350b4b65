package deployments

import (
	"io/fs"
	"os"
	"path"
	"strings"
)

// Production's environment files are its own: the workspace's copy holds a
// developer's settings, production's the secrets it runs with. A deploy leaves them
// alone unless the project sets deploy_env_files.

// isEnvFile reports whether rel names an environment file: .env, .env.<anything>
// or <anything>.env.
func isEnvFile(rel string) bool {
	base := path.Base(rel)
	return base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env")
}

// envDiffers reports whether production lacks the workspace's env file name or has
// it with other content, mode or link target — what the plan lists as kept.
func envDiffers(wsDir, prodDir *os.Root, name string, wfi fs.FileInfo) (bool, error) {
	if prodDir == nil {
		return true, nil
	}
	pfi, err := prodDir.Lstat(name)
	if err != nil {
		return true, nil
	}
	wk, pk := kindOf(wfi.Mode()), kindOf(pfi.Mode())
	switch {
	case wk != pk:
		return true, nil
	case wk == kindSymlink:
		a, err1 := wsDir.Readlink(name)
		b, err2 := prodDir.Readlink(name)
		return err1 != nil || err2 != nil || a != b, nil
	}
	return fileChanged(wsDir, prodDir, name, wfi, wfi.Mode()&permBits, pfi)
}

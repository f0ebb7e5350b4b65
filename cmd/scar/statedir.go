package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// privateBackups makes the deploy backups under the state directory private (0700)
// at every start, down to each deploy's directory: they are copies of production
// files, and an older scar or a restore may have left them readable by others. The
// files inside keep their modes, which a rollback puts back. store.Open does the
// same for the state directory itself and the database.
func privateBackups(stateDir string) error {
	root := filepath.Join(stateDir, "backups")
	dirs := []string{root}
	for _, pattern := range []string{"*", "*/*"} {
		more, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return err
		}
		dirs = append(dirs, more...)
	}
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("make backups private: %w", err)
		}
		if !fi.IsDir() || fi.Mode().Perm() == 0o700 {
			continue
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make backups private: %w", err)
		}
	}
	return nil
}

package deployments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
)

// A file edited by hand in production since the last deploy — a hotfix made on the
// server — would be overwritten without anyone knowing. The manifest keeps the hash of
// what each deploy wrote; the plan names every file it overwrites or deletes whose
// content is no longer that.

// editedInProduction returns the production files the plan overwrites or deletes
// whose content differs from the hash the manifest recorded for them.
func (e *Engine) editedInProduction(ctx context.Context, prod *os.Root, mf *manifestFile, p *Plan) ([]string, error) {
	if prod == nil || len(mf.Hashes) == 0 {
		return nil, nil
	}
	var check []string
	for _, w := range p.writes {
		if _, ok := mf.Hashes[w.rel]; ok && w.prod == kindFile {
			check = append(check, w.rel)
		}
	}
	for _, list := range [][]string{p.Deleted, p.replaced} {
		for _, rel := range list {
			if _, ok := mf.Hashes[rel]; ok {
				check = append(check, rel)
			}
		}
	}
	var mu sync.Mutex
	var edited []string
	err := parallel(ctx, e.workers, check, func(rel string) error {
		fi, err := lstatNoFollow(prod, rel)
		if err != nil || !fi.Mode().IsRegular() {
			return nil // gone or no longer a file: the plan's lists already say so
		}
		h, err := hashFile(prod, rel)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read production %s: %w", rel, err)
		}
		if h != mf.Hashes[rel] {
			mu.Lock()
			edited = append(edited, rel)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(edited)
	return slices.Compact(edited), nil
}

// hashFile returns the hex SHA-256 of rel's content in r.
func hashFile(r *os.Root, rel string) (string, error) {
	f, err := r.Open(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

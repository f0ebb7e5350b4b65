// Package gentree writes the synthetic source trees that scar's file benchmarks deploy:
// the same tree for a given size and seed, shaped like a project checkout (ten
// top-level directories, twenty files to a directory, sizes log-normal around a few
// kilobytes).
package gentree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

const filesPerDir = 20

// Generate writes n files under root and returns their total size.
func Generate(root string, n int, seed uint64) (int64, error) {
	rng := rand.New(rand.NewChaCha8(seedBytes(seed)))
	var total int64
	buf := make([]byte, 1<<20)
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%d", i/filesPerDir%10), fmt.Sprintf("s%d", i/filesPerDir/10))
		if i%filesPerDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return total, err
			}
		}
		size := min(int(math.Exp(8+1.2*rng.NormFloat64())), len(buf))
		fillRandom(rng, buf[:size])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.py", i%filesPerDir)), buf[:size], 0o644); err != nil {
			return total, err
		}
		total += int64(size)
	}
	return total, nil
}

// ChangeOne rewrites one file of a tree Generate wrote with new bytes (of a new size
// on every call, so a size-and-mtime comparison sees it) and returns its path.
func ChangeOne(root string, round int) (string, error) {
	p := filepath.Join(root, "d3", "s7", "f11.py")
	data := fmt.Appendf(nil, "# changed, round %d\n", round)
	for range round % 7 {
		data = append(data, '#')
	}
	return p, os.WriteFile(p, data, 0o644)
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

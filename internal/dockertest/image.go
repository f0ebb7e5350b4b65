package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// AppImageRepo is the repository of the demo app image the tests build.
const AppImageRepo = "scar-test-app"

var appImage struct {
	once sync.Once
	tag  string
	err  error
}

// BuildAppImage returns the tag of the demo app image (examples/demo), building it
// once per test binary: the app is compiled static, put with examples/demo/Dockerfile
// and index.txt into a tar build context and built through the Engine API. The tag
// carries a hash of that context, so a run whose sources did not change finds the
// image of an earlier run and builds nothing.
func BuildAppImage(tb testing.TB) string {
	tb.Helper()
	cli := Client(tb)
	appImage.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		appImage.tag, appImage.err = buildAppImage(ctx, cli, RepoRoot(tb))
	})
	if appImage.err != nil {
		tb.Fatalf("build app image: %v", appImage.err)
	}
	return appImage.tag
}

func buildAppImage(ctx context.Context, cli *client.Client, root string) (string, error) {
	dir, err := os.MkdirTemp("", "scar-test-app-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./examples/demo/app")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile app: %v: %s", err, out)
	}

	files := []struct {
		name string
		path string
		mode int64
	}{
		{"Dockerfile", filepath.Join(root, "examples", "demo", "Dockerfile"), 0o644},
		{"index.txt", filepath.Join(root, "examples", "demo", "index.txt"), 0o644},
		{"app", bin, 0o755},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sum := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(sum, "%s %d\n", f.name, len(b))
		sum.Write(b)
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(b)), ModTime: time.Unix(0, 0)}); err != nil {
			return "", err
		}
		if _, err := tw.Write(b); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	tag := AppImageRepo + ":" + hex.EncodeToString(sum.Sum(nil))[:12]

	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:           []string{tag},
		Remove:         true,
		ForceRemove:    true,
		SuppressOutput: true,
		Labels:         map[string]string{"scar.test": "1"},
	})
	if err != nil {
		return "", fmt.Errorf("image build %s: %w", tag, err)
	}
	defer res.Body.Close()
	if err := buildError(res.Body); err != nil {
		return "", fmt.Errorf("image build %s: %w", tag, err)
	}
	return tag, nil
}

// buildError reads the build's JSON message stream to its end and returns the
// error it reports, if any.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

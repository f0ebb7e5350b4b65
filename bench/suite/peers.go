package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// seedPeer is bench/peers/seed_docker.py running as a coprocess: one docker-py client
// made once, as the seed bot's was, answering one command per line.
type seedPeer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startSeedPeer(root string) (*seedPeer, error) {
	cmd := exec.Command("python3", filepath.Join(root, "bench", "peers", "seed_docker.py"))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the seed peer (python3 with python3-docker): %w", err)
	}
	return &seedPeer{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// do sends one command and waits for its answer.
func (p *seedPeer) do(command string, names ...string) error {
	if _, err := fmt.Fprintln(p.in, command+" "+strings.Join(names, " ")); err != nil {
		return err
	}
	if !p.out.Scan() {
		return fmt.Errorf("seed peer: no answer to %s: %v", command, p.out.Err())
	}
	if line := p.out.Text(); line != "ok" {
		return errors.New("seed peer: " + line)
	}
	return nil
}

func (p *seedPeer) stop() {
	p.in.Close()
	p.cmd.Wait()
}

// cli runs a command line with its output discarded, as a user's terminal would
// receive it (piped, so that the tool formats it fully).
func cli(ctx context.Context, dir string, argv ...string) func() error {
	return func() error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		var errBuf strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &errBuf
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLines(errBuf.String(), 5))
		}
		return nil
	}
}

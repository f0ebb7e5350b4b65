package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// followTicks is how many lines each side of the follow row reads.
const followTicks = 200

// followRows times a log follow: from the moment the container writes a line (the
// time the demo app puts in each "tick N <time>" line; svc1 of the status project
// ticks every 20 ms) to the moment the client has it, through scar's REST follow and
// through `docker logs -f`, one stream each, read alternately in turns of 50 lines.
func (s *suite) followRows() error {
	c := s.f.status.container(s.f.status.services[1])
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, "GET", s.scar.base+"/api/v1/projects/status/logs?follow=true&lines=1&container="+s.f.status.services[1], nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("scar follow: %s", resp.Status)
	}
	cmd := exec.CommandContext(ctx, "docker", "logs", "-f", "--tail", "0", c)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer cancel()

	sides := []*bufio.Reader{bufio.NewReader(resp.Body), bufio.NewReader(out)}
	lat := make([][]time.Duration, 2)
	for len(lat[0]) < followTicks {
		for i, r := range sides {
			// A side that waited while the other read has lines queued: skip to a
			// fresh one, then time the next 50.
			if err := skipQueued(r); err != nil {
				return err
			}
			for range 50 {
				d, err := nextTick(r)
				if err != nil {
					return err
				}
				lat[i] = append(lat[i], d)
			}
		}
	}
	peer := "docker logs -f (CLI)"
	s.t.timeRow("follow: line written → received, p50", median(lat[0]), peer, median(lat[1]), "same (≤ 1.5)", func(r float64) bool { return r <= 1.5 })
	s.t.timeRow("follow: line written → received, p99", quantile(lat[0], 0.99), peer, quantile(lat[1], 0.99), "", nil)
	return nil
}

// skipQueued reads up to the first tick written after now.
func skipQueued(r *bufio.Reader) error {
	now := time.Now()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if at, ok := tickTime(line); ok && at.After(now) {
			return nil
		}
	}
}

// nextTick reads to the next tick line and returns how long ago it was written.
func nextTick(r *bufio.Reader) (time.Duration, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if at, ok := tickTime(line); ok {
			return time.Since(at), nil
		}
	}
}

// tickTime is the written time at the end of a "… tick N <time>" line.
func tickTime(line string) (time.Time, bool) {
	f := strings.Fields(line)
	if len(f) < 3 || f[len(f)-3] != "tick" {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, f[len(f)-1])
	return at, err == nil
}

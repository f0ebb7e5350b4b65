package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scar-dev/scar/store"
)

// retentionInterval is how often history, events and the audit log are pruned after
// the prune at start.
const retentionInterval = 24 * time.Hour

// parseRetention reads SCAR_RETENTION: a number of days ("90d") or a Go duration
// ("2160h"); "0" keeps everything for ever.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 100*365 {
			return 0, fmt.Errorf("SCAR_RETENTION: %q: want days from 1d to 36500d, a duration such as 2160h, or 0 to keep everything", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("SCAR_RETENTION: %q: want days (90d), a duration of at least 1h (2160h), or 0 to keep everything", s)
	}
	return d, nil
}

// startRetention prunes what is older than keep at once, then every
// retentionInterval, until stop is called; stop waits for a prune under way. keep 0
// prunes nothing.
func startRetention(ctx context.Context, db *store.DB, keep time.Duration, logger *slog.Logger) (stop func()) {
	if keep <= 0 {
		logger.Info("retention off (SCAR_RETENTION=0): history, events and the audit log are kept for ever")
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	prune := func() {
		n, err := db.Prune(ctx, time.Now().Add(-keep))
		if err != nil {
			logger.Error("retention: pruning the state store", slog.Any("error", err))
			return
		}
		logger.Info("retention: pruned the state store", slog.Duration("keep", keep),
			slog.Int64("deployments", n.Deployments), slog.Int64("events", n.Events), slog.Int64("audit_entries", n.Audit))
	}
	prune()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(retentionInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				prune()
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

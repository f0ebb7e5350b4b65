package dockerops

import (
	"context"
	"time"

	"github.com/scar-dev/scar/store"
)

// MuteReader reads the projects whose alerts are muted; store.DB satisfies it.
type MuteReader interface {
	Mutes(ctx context.Context, now time.Time) (map[string]store.Mute, error)
}

// WithMutes makes status say until when a project's alerts are muted.
func WithMutes(m MuteReader) Option { return func(s *Service) { s.mutes = m } }

// mutedUntil is the end of a project's mute, zero when it is not muted. A store that
// cannot be read leaves it out: the mute is a note on the status, not part of it.
func (s *Service) mutedUntil(ctx context.Context, project string, now time.Time) time.Time {
	if s.mutes == nil {
		return time.Time{}
	}
	mutes, err := s.mutes.Mutes(ctx, now)
	if err != nil {
		return time.Time{}
	}
	return mutes[project].Until
}

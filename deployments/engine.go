// Package deployments is the file half of a deploy: it plans what a deploy copies from
// a project's workspace to its production directory, backs up what it will overwrite,
// journals the deploy, syncs the files, and undoes the deploy from its backup — on
// failure, on rollback, and at start after a crash.
//
// Every production write goes through an os.Root, so no name and no symlink can make a
// deploy write outside the production directory; the workspace is read the same way.
//
// A deploy runs as:
//
//	plan, err := eng.Plan(ctx, project)   // shown to the user; Empty() = nothing to deploy
//	d, err := eng.Begin(ctx, id, plan)    // backup + journal, before any production write
//	err = d.Sync(ctx, progress)           // on error production is already restored
//	... build, apply, health gate ...
//	err = d.Commit(ctx)                   // success: keep the backup for Rollback
//	err = d.Undo(ctx)                     // failure after Sync: restore production
//
// and at start eng.Recover(ctx) undoes the deploys a crash interrupted (or, for a caller
// that must put containers back too, eng.RecoverFiles(ctx) and, once they are back,
// eng.Forget(ctx, rec): the journal is kept until then).
package deployments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/scar-dev/scar/store"
)

// DefaultKeep is how many deploy backups are kept per project.
const DefaultKeep = 5

// Journal stores the journal of each deploy that has not finished; *store.DB is one.
type Journal interface {
	PutJournal(ctx context.Context, deployID, project string, data []byte) error
	DeleteJournal(ctx context.Context, deployID string) error
	Journals(ctx context.Context) ([]store.JournalRecord, error)
}

var _ Journal = (*store.DB)(nil)

// Config configures an Engine.
type Config struct {
	// StateDir holds backups/<project>/<deploy-id>/ and manifests/<project>.json.
	StateDir string
	// Journal records unfinished deploys (the state store).
	Journal Journal
	// Keep is how many backups of successful deploys are kept per project (DefaultKeep when 0).
	Keep int
	// Workers bounds the files copied at once (a default suited to fsync latency when 0).
	Workers int
	// Logger receives what Recover and retention did; nil discards.
	Logger *slog.Logger
}

// Engine plans, syncs and restores deploys of project files. It is safe for concurrent
// use on different projects; the caller serialises deploys of one project.
type Engine struct {
	stateDir string
	journal  Journal
	keep     int
	workers  int
	log      *slog.Logger
	// hook, when set by tests, runs at each named step of a deploy; a non-nil error
	// fails the step as if the file system had.
	hook func(step, rel string) error
}

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("deployments: no state directory")
	}
	if cfg.Journal == nil {
		return nil, errors.New("deployments: no journal")
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("deployments: state directory: %w", err)
	}
	e := &Engine{stateDir: dir, journal: cfg.Journal, keep: cfg.Keep, workers: cfg.Workers, log: cfg.Logger}
	if e.keep <= 0 {
		e.keep = DefaultKeep
	}
	if e.workers <= 0 {
		// Copies wait on fsync far more than on the CPU; many in flight let the file
		// system commit them together.
		e.workers = max(16, 8*runtime.GOMAXPROCS(0))
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

// step runs the test hook, if any.
func (e *Engine) step(step, rel string) error {
	if e.hook == nil {
		return nil
	}
	return e.hook(step, rel)
}

// Errors callers match with errors.Is.
var (
	// ErrRefused: the workspace or production holds something scar will not deploy
	// (a symlink leaving the tree, a FIFO or device, a directory where a file goes).
	ErrRefused = errors.New("refused")
	// ErrStalePlan: production changed between Plan and Begin; plan again.
	ErrStalePlan = errors.New("production changed since the plan")
	// ErrNoBackup: there is no kept backup to roll back to.
	ErrNoBackup = errors.New("no backup to roll back to")
)

// RefusedError names the path a plan refused and why. It matches ErrRefused.
type RefusedError struct {
	Path   string
	Reason string
}

func (e *RefusedError) Error() string { return fmt.Sprintf("refused %s: %s", e.Path, e.Reason) }

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refused(rel, format string, args ...any) error {
	return &RefusedError{Path: rel, Reason: fmt.Sprintf(format, args...)}
}

// FileError names the file a sync, backup or restore failed on, what it was doing and
// the cause (errors.Is(err, syscall.ENOSPC) and the like see through it).
type FileError struct {
	Op   string // "write", "backup", "delete", "restore", ...
	Path string // relative to the production root, slash-separated
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err) }

func (e *FileError) Unwrap() error { return e.Err }

// validName reports whether s can be one path element of the state directory.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && filepath.IsLocal(s)
}

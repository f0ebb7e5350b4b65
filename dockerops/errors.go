package dockerops

import (
	"errors"
	"fmt"
	"time"

	"github.com/scar-dev/scar/projects"
)

// Errors that cross package lines. api maps them to HTTP statuses and handlers to
// Telegram text, each in one place; match them with errors.Is / errors.As.
var (
	// ErrUnknownProject: the named project is not in the projects file.
	ErrUnknownProject = projects.ErrUnknownProject
	// ErrNoDefault: no project was named and there is no default project.
	ErrNoDefault = projects.ErrNoDefault
	// ErrNotFound: a container or deployment does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBusy: the project is locked by a running restart, deploy or rollback.
	ErrBusy = errors.New("busy")
	// ErrDockerUnavailable: the Docker Engine does not answer.
	ErrDockerUnavailable = errors.New("docker unavailable")
	// ErrBadInput: a request argument is invalid (lines, since, container, ...).
	ErrBadInput = errors.New("bad input")
)

// BusyError says which operation holds a project's lock, for whom and since when.
type BusyError struct {
	Project   string
	Operation string
	Who       string
	Since     time.Time
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("busy: %s of %s by %s since %s", e.Operation, e.Project, e.Who, e.Since.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// badInput returns an error that matches ErrBadInput and reads as the message alone.
func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == ErrBadInput }

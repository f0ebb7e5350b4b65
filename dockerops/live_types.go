package dockerops

import "time"

// The types of issue #15 (live): log follows, container stats, start and stop. They
// are the contract between dockerops, the REST API, the bot and the scar client.

// Operations of start and stop, as the operation label of scar_operation_duration_seconds.
const (
	OpStop  = "stop"
	OpStart = "start"
)

// FollowRequest asks for a log follow: the tail as a LogsRequest asks (Lines, Since,
// Grep; Container "" follows every container of the project, interleaved by time),
// then new lines as the engine writes them, until the context ends or MaxDuration
// (0: DefaultFollowMax) has passed.
type FollowRequest struct {
	LogsRequest
	MaxDuration time.Duration
}

// DefaultFollowMax is how long a follow lasts when nothing shorter is asked
// (SCAR_FOLLOW_MAX).
const DefaultFollowMax = time.Hour

// FollowLine is one line of a follow: a line a container wrote, or, with Note set,
// scar's own word on the follow ("web restarted", "web stopped (exit code 1)",
// "the Docker engine went away", "follow ended: 1h0m0s passed").
type FollowLine struct {
	Time      time.Time `json:"time,omitzero"`
	Container string    `json:"container"`
	Stream    string    `json:"stream,omitempty"` // stdout, stderr, tty; empty on a note
	Text      string    `json:"text"`
	Note      bool      `json:"note,omitempty"`
}

// Follow is a running log follow. Lines is closed when the follow ends; Reason then
// says why in a few words. Stop ends it early; it is safe to call more than once.
type Follow struct {
	Project    string
	Containers []string // the containers followed, by name
	Lines      <-chan FollowLine

	stop   func()
	reason func() string
}

// NewFollow makes a Follow of lines, which its maker closes when the follow ends;
// stop asks it to end and reason says why it ended. dockerops makes its own; others
// (a test's feed) use this.
func NewFollow(project string, containers []string, lines <-chan FollowLine, stop func(), reason func() string) *Follow {
	return &Follow{Project: project, Containers: containers, Lines: lines, stop: stop, reason: reason}
}

// Stop ends the follow and releases what it holds; Lines is closed soon after.
func (f *Follow) Stop() {
	if f.stop != nil {
		f.stop()
	}
}

// Reason says why the follow ended: "stopped", "the time limit (1h0m0s) passed",
// "the Docker engine went away", "the reader fell behind". Empty while it runs.
func (f *Follow) Reason() string {
	if f.reason == nil {
		return ""
	}
	return f.reason()
}

// ContainerStats is one container's resource use now, computed as docker stats does.
type ContainerStats struct {
	Name    string `json:"name"`
	ID      string `json:"id,omitempty"`
	Service string `json:"service,omitempty"`
	State   string `json:"state"`
	// CPUPercent is the CPU delta over the system delta × online CPUs × 100 between
	// the engine's two samples (so 200 is two cores busy).
	CPUPercent       float64 `json:"cpu_percent"`
	OnlineCPUs       int     `json:"online_cpus"`
	MemoryBytes      uint64  `json:"memory_bytes"` // usage less the page cache, as docker stats shows
	MemoryLimitBytes uint64  `json:"memory_limit_bytes"`
	MemoryPercent    float64 `json:"memory_percent"`
	NetRxBytes       uint64  `json:"net_rx_bytes"`
	NetTxBytes       uint64  `json:"net_tx_bytes"`
	BlockReadBytes   uint64  `json:"block_read_bytes"`
	BlockWriteBytes  uint64  `json:"block_write_bytes"`
	PIDs             uint64  `json:"pids"`
}

// ProjectStats is the answer of Stats: every container of the project at once.
type ProjectStats struct {
	Project    string           `json:"project"`
	At         time.Time        `json:"at"`
	Containers []ContainerStats `json:"containers"`
}

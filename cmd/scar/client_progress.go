package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// progress shows a deploy's stage events as they come: one line per event, with the
// seconds since the deploy started. On a terminal a last line, redrawn in place, says
// which stage runs and for how long, with a spinner, so a long build does not look
// stuck; piped, only the plain lines are written. With --json each event is one JSON
// object a line.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	live    bool
	json    bool
	started time.Time // the deployment's start, by the server's clock
	shown   int       // events written so far
	stage   string    // the stage running, for the live line
	stageAt time.Time // when it began, by this machine's clock
	frame   int
	drawn   bool // the live line is on the screen

	stop chan struct{}
	done chan struct{}
}

// spinner frames: plain ASCII, which every terminal shows.
var spinner = []string{"|", "/", "-", `\`}

func newProgress(cio clientIO, asJSON bool, started time.Time) *progress {
	p := &progress{w: cio.stdout, live: cio.interactive && !asJSON, json: asJSON, started: started,
		stop: make(chan struct{}), done: make(chan struct{})}
	if !p.live {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.frame++
				p.drawLive()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// event writes one stage event.
func (p *progress) event(ev dockerops.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shown++
	if p.json {
		printJSONLine(p.w, ev)
		return
	}
	p.clearLive()
	fmt.Fprintln(p.w, eventLine(ev, p.started))
	if ev.Stage != p.stage {
		p.stage, p.stageAt = ev.Stage, time.Now()
	}
	p.drawLive()
}

// catchUp writes the events of a polled deployment that were not written yet.
func (p *progress) catchUp(d *dockerops.Deployment) {
	p.mu.Lock()
	from := p.shown
	p.mu.Unlock()
	for i := from; i < len(d.Events); i++ {
		p.event(d.Events[i])
	}
}

// close stops the live line and takes it off the screen.
func (p *progress) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	p.clearLive()
	p.mu.Unlock()
}

func (p *progress) drawLive() {
	if !p.live || p.stage == "" {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s %s", spinner[p.frame%len(spinner)], p.stage, time.Since(p.stageAt).Round(100*time.Millisecond))
	p.drawn = true
}

func (p *progress) clearLive() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// eventLine is an event as a plain line: "  3.2s  health    web: running, healthy (ok)".
func eventLine(ev dockerops.Event, started time.Time) string {
	var b strings.Builder
	at := ev.Time.Sub(started)
	if ev.Time.IsZero() || started.IsZero() || at < 0 {
		at = 0
	}
	fmt.Fprintf(&b, "%6.1fs  %-8s ", at.Seconds(), ev.Stage)
	if ev.Container != "" && !strings.HasPrefix(ev.Message, ev.Container) {
		b.WriteString(ev.Container + ": ")
	}
	b.WriteString(ev.Message)
	if r := ev.Result; r != nil {
		switch {
		case r.OK:
			fmt.Fprintf(&b, " [ok %s]", firstOf(r.Condition, r.State))
		default:
			fmt.Fprintf(&b, " [FAILED %s]", firstOf(r.Error, r.Condition, r.State))
		}
	}
	return b.String()
}

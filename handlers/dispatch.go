package handlers

import "sync"

const (
	// maxQueuedPerChat bounds the updates waiting in one chat.
	maxQueuedPerChat = 64
	// maxQueued bounds the updates waiting in all chats.
	maxQueued = 4096
)

// dispatcher runs the updates of one chat one after another, in the order they came
// (so that a "yes" always finds the confirmation the command before it asked for),
// and the updates of different chats in parallel, at most workers at a time.
type dispatcher struct {
	sem  chan struct{}
	work *sync.WaitGroup

	mu     sync.Mutex
	queues map[int64][]func()
	queued int
	closed bool
}

func newDispatcher(workers int, work *sync.WaitGroup) *dispatcher {
	return &dispatcher{
		sem:    make(chan struct{}, workers),
		work:   work,
		queues: make(map[int64][]func()),
	}
}

// submit queues job for chat. It reports false when the queues are full or closed.
func (d *dispatcher) submit(chatID int64, job func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[chatID]
	if d.closed || len(q) >= maxQueuedPerChat || d.queued >= maxQueued {
		return false
	}
	d.queues[chatID] = append(q, job)
	d.queued++
	// The head of a queue stays in it while it runs: a non-empty queue means its
	// chat has a goroutine draining it.
	if len(q) == 0 {
		d.work.Add(1)
		go d.drain(chatID)
	}
	return true
}

// drain runs a chat's queue until it is empty, holding one worker slot meanwhile.
func (d *dispatcher) drain(chatID int64) {
	defer d.work.Done()
	d.sem <- struct{}{}
	defer func() { <-d.sem }()
	for {
		d.mu.Lock()
		job := d.queues[chatID][0]
		d.mu.Unlock()

		job()

		d.mu.Lock()
		q := d.queues[chatID][1:]
		d.queued--
		if len(q) == 0 {
			delete(d.queues, chatID)
			d.mu.Unlock()
			return
		}
		d.queues[chatID] = q
		d.mu.Unlock()
	}
}

// close refuses new jobs; queued ones still run.
func (d *dispatcher) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
}

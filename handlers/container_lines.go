package handlers

import (
	"strings"
	"sync"
)

// containerLines is the body of a restart's, stop's or start's message as it goes
// on: one line per container, in the order they first reported, each the latest
// said of it. Progress events set lines while the live message renders them.
type containerLines struct {
	mu    sync.Mutex
	order []string
	lines map[string]string
}

// set makes line the one shown for container.
func (c *containerLines) set(container, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lines == nil {
		c.lines = make(map[string]string)
	}
	if _, seen := c.lines[container]; !seen {
		c.order = append(c.order, container)
	}
	c.lines[container] = line
}

// text is head followed by every container's line.
func (c *containerLines) text(head string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sb strings.Builder
	sb.WriteString(head)
	for _, name := range c.order {
		sb.WriteString("\n" + c.lines[name])
	}
	return sb.String()
}

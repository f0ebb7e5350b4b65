package projects

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Config is a validated projects file. It is never modified after Parse, so it is
// safe for concurrent use; the projects it hands out are copies.
type Config struct {
	projects map[string]*Project
	names    []string
	// flagged is the project with "default": true, if any.
	flagged string
	// override is the default chosen outside the file (SCAR_DEFAULT_PROJECT).
	override string
}

func newConfig(projects map[string]*Project) *Config {
	c := &Config{projects: projects}
	for name, p := range projects {
		c.names = append(c.names, name)
		if p.Default {
			c.flagged = name
		}
	}
	sort.Strings(c.names)
	return c
}

// WithDefault returns a copy of the config whose default project is name, which
// takes precedence over "default": true in the file. An empty name keeps the file's
// choice. A name that is not a project is an error wrapping ErrUnknownProject.
func (c *Config) WithDefault(name string) (*Config, error) {
	if name != "" {
		if _, ok := c.projects[name]; !ok {
			return nil, fmt.Errorf("default project %q: %w (projects: %s)",
				name, ErrUnknownProject, strings.Join(c.names, ", "))
		}
	}
	cp := *c
	cp.override = name
	return &cp, nil
}

// Names returns the project names, sorted.
func (c *Config) Names() []string {
	return slices.Clone(c.names)
}

// All returns every project, sorted by name.
func (c *Config) All() []*Project {
	all := make([]*Project, len(c.names))
	for i, name := range c.names {
		all[i] = c.projects[name].clone()
	}
	return all
}

// Get returns the named project, or an error wrapping ErrUnknownProject.
func (c *Config) Get(name string) (*Project, error) {
	p, ok := c.projects[name]
	if !ok {
		return nil, fmt.Errorf("project %q: %w", name, ErrUnknownProject)
	}
	return p.clone(), nil
}

// Resolve returns the named project or, for an empty name, the default project;
// ErrNoDefault when there is none.
func (c *Config) Resolve(name string) (*Project, error) {
	if name != "" {
		return c.Get(name)
	}
	def := c.Default()
	if def == "" {
		return nil, ErrNoDefault
	}
	return c.Get(def)
}

// Default returns the name of the project used when none is named: the one given
// by WithDefault, else the one with "default": true, else the only project; "" when
// none of these applies.
func (c *Config) Default() string {
	switch {
	case c.override != "":
		return c.override
	case c.flagged != "":
		return c.flagged
	case len(c.names) == 1:
		return c.names[0]
	}
	return ""
}

// clone copies p so that callers cannot change the shared config.
func (p *Project) clone() *Project {
	cp := *p
	cp.Containers = slices.Clone(p.Containers)
	cp.Exclude = slices.Clone(p.Exclude)
	cp.RebuildOn = slices.Clone(p.RebuildOn)
	cp.Services = slices.Clone(p.Services)
	cp.AllowedUsers = slices.Clone(p.AllowedUsers)
	cp.AlertChats = slices.Clone(p.AlertChats)
	if p.Git != nil {
		g := *p.Git
		cp.Git = &g
	}
	return &cp
}

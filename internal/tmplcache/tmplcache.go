// Package tmplcache keeps parsed text templates by their text, so a template given as
// text (a profile's iPXE script or kickstart) is parsed once, not on every request.
package tmplcache

import (
	"fmt"
	"sync"
	"text/template"
)

// Cache parses each distinct text once. It is bounded: when it holds its limit of texts it is
// dropped and refilled (texts only change when profiles do). The empty text is the
// default template, parsed by New. A text that does not parse is not kept. It is safe
// for concurrent use.
type Cache struct {
	parse func(text string) (*template.Template, error)
	def   *template.Template
	max   int

	mu    sync.Mutex
	byTxt map[string]*template.Template
}

// New parses the default template with parse and returns a cache of at most limit other
// texts (at least 1).
func New(parse func(text string) (*template.Template, error), defaultText string, limit int) (*Cache, error) {
	def, err := parse(defaultText)
	if err != nil {
		return nil, fmt.Errorf("default template: %w", err)
	}
	return &Cache{parse: parse, def: def, max: max(limit, 1), byTxt: map[string]*template.Template{}}, nil
}

// Get returns the parsed template of text, or the default template for "".
func (c *Cache) Get(text string) (*template.Template, error) {
	if text == "" {
		return c.def, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.byTxt[text]; ok {
		return t, nil
	}
	t, err := c.parse(text)
	if err != nil {
		return nil, err
	}
	if len(c.byTxt) >= c.max {
		clear(c.byTxt)
	}
	c.byTxt[text] = t
	return t, nil
}

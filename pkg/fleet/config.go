package fleet

import (
	"fmt"
	"time"
)

// Config is the `fleet:` section of the serve config. Zero fields take the defaults.
type Config struct {
	// DeadlineEvery is how often the stage deadlines are checked (default 30s).
	DeadlineEvery time.Duration `yaml:"deadlineEvery"`
	// MetricPods bounds the pod label of the provision metrics (default 256; later pods
	// are "other").
	MetricPods int `yaml:"metricPods"`
	// RelaySilence is how long a relay that was heard may stay quiet before pod status
	// calls it silent (default 15m).
	RelaySilence time.Duration `yaml:"relaySilence"`
}

// Validate checks c and fills in the defaults.
func (c *Config) Validate() error {
	if c.DeadlineEvery < 0 || c.MetricPods < 0 || c.RelaySilence < 0 {
		return fmt.Errorf("fleet: deadlineEvery, metricPods and relaySilence must not be negative")
	}
	if c.DeadlineEvery > 0 && c.DeadlineEvery < 100*time.Millisecond {
		return fmt.Errorf("fleet: deadlineEvery %s: use 100ms or more", c.DeadlineEvery)
	}
	if c.DeadlineEvery == 0 {
		c.DeadlineEvery = DefaultDeadlineEvery
	}
	if c.MetricPods == 0 {
		c.MetricPods = DefaultMetricPods
	}
	if c.RelaySilence == 0 {
		c.RelaySilence = DefaultRelaySilence
	}
	return nil
}

// SetRelaySilence sets how long a heard relay may stay quiet before it is silent.
func (s *Service) SetRelaySilence(d time.Duration) {
	if d > 0 {
		s.silence = d
	}
}

package config

import (
	"fmt"
	"strconv"
	"strings"
)

// QueueConfig is Send LINE Message by Queue's settings.
type QueueConfig struct {
	// PushRates maps account number → LINE_PUSH_RATE(_n) where set (default 1500).
	PushRates   map[int]int
	Shards      int
	Backlog     int
	BatchSize   int
	MaxInFlight int
}

// PushRate is account n's pushes per second.
func (q QueueConfig) PushRate(n int) int {
	if r := q.PushRates[n]; r > 0 {
		return r
	}
	return 1500
}

func (c *Config) loadQueue(env map[string]string, get func(string) string) []error {
	var errs []error
	c.Queue.PushRates = map[int]int{}
	for k, v := range env {
		n, ok := numbered(k, "LINE_PUSH_RATE")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		r, err := strconv.Atoi(v)
		switch {
		case n == 0:
			errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
		case err != nil || r < 1 || r > 100000:
			errs = append(errs, fmt.Errorf("%s=%q: want pushes per second, a whole number from 1 to 100000", k, v))
		default:
			c.Queue.PushRates[n] = r
		}
	}
	intSetting := func(name string, min, max int, dst *int) {
		v := get(name)
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, min, max))
			return
		}
		*dst = n
	}
	intSetting("HUBLINE_QUEUE_SHARDS", 1, 256, &c.Queue.Shards)
	intSetting("HUBLINE_QUEUE_BACKLOG", 1, 1000000, &c.Queue.Backlog)
	intSetting("HUBLINE_QUEUE_BATCH_SIZE", 1, 500, &c.Queue.BatchSize)
	intSetting("HUBLINE_QUEUE_MAX_IN_FLIGHT", 1, 1000, &c.Queue.MaxInFlight)
	return errs
}

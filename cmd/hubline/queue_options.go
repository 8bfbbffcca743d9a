package main

import (
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// queueOptions turns the HUBLINE_QUEUE_* settings into the starter's queue options.
func queueOptions(cfg *config.Config) starter.QueueOptions {
	return starter.QueueOptions{
		Shards: cfg.Queue.Shards, Backlog: cfg.Queue.Backlog,
		Workflow: workflows.QueueOptions{BatchSize: cfg.Queue.BatchSize, MaxInFlight: cfg.Queue.MaxInFlight},
	}
}

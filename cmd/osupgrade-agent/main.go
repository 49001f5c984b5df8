// Command osupgrade-agent is the in-VM agent of the Docker fleet, PID 1 of
// every instance container (see package fakes/agent). Build it static:
// CGO_ENABLED=0 go build ./cmd/osupgrade-agent.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/osupgrade/osupgrade/fakes/agent"
)

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// One P: the agent does little at a time, and hundreds of agents
		// on a 2-core machine each spinning up a second P to find work
		// (GC workers, woken idle Ps) took CPU from the engine whose
		// speed the benchmarks measure.
		runtime.GOMAXPROCS(1)
	}
	// SIGTERM (docker stop) ends the agent cleanly: exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := agent.Run(ctx, agent.Options{ConfigEnv: os.Getenv(agent.ConfigEnv)})
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, agent.ErrCrash):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

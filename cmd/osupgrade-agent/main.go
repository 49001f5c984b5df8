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
	"syscall"

	"github.com/osupgrade/osupgrade/fakes/agent"
)

func main() {
	// SIGTERM (docker stop) ends the agent cleanly: exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := agent.Run(ctx, agent.Options{})
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

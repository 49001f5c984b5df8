// Command osupgrade-agent is the in-VM agent alone: the same process as
// `osupgrade agent` (package fakes/agent), kept for the Docker benchmark's
// images (bench/docker.go), which build it as a small separate binary, and
// for prebuilt agents named by OSUPGRADE_AGENT_BINARY (it ignores its
// arguments, so an image's `agent` argument does not trouble it). Build it
// static: CGO_ENABLED=0 go build ./cmd/osupgrade-agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/osupgrade/osupgrade/fakes/agent"
)

func main() {
	// SIGTERM (docker stop) ends the agent cleanly: exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(agent.Main(ctx, os.Stderr))
}

// Command testserver runs api.Serve exactly as `osupgrade serve` does, for
// the kill-and-resume test: it builds without the rest of cmd/osupgrade.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	os.Exit(api.Serve(ctx, args, os.Stdout, os.Stderr))
}

package main

import (
	"context"
	"io"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

func init() {
	commands["serve"] = command{"serve the ARM-compatible Compute API (scale sets, rolling upgrades, history) over HTTPS", serveMain}
}

func serveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return api.Serve(ctx, args, stdout, stderr)
}

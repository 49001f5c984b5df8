package main

import (
	"context"
	"io"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

func init() {
	commands["serve"] = command{"serve the ARM-compatible Compute API (scale sets, rolling upgrades, history) over HTTPS", serveMain}
}

// newDockerFleet builds the Docker fleet for `serve --fleet docker`; it is
// nil in builds without the Docker fleet ("docker fleet not available in
// this build").
var newDockerFleet api.DockerFleetFactory

func serveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return api.Serve(ctx, args, stdout, stderr, newDockerFleet)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// Main is the agent process, PID 1 of an instance container (`osupgrade
// agent`, or the osupgrade-agent wrapper): it runs until ctx ends (SIGTERM,
// docker stop: exit 0) or the image crashes (exit 3), reading its config
// from ConfigPath or the ConfigEnv variable.
func Main(ctx context.Context, stderr io.Writer) int {
	if os.Getenv("GOMAXPROCS") == "" {
		// One P: the agent does little at a time, and hundreds of agents
		// on a 2-core machine each spinning up a second P to find work
		// (GC workers, woken idle Ps) took CPU from the engine whose
		// speed the benchmarks measure.
		runtime.GOMAXPROCS(1)
	}
	err := Run(ctx, Options{ConfigEnv: os.Getenv(ConfigEnv)})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrCrash):
		fmt.Fprintln(stderr, err)
		return 3
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

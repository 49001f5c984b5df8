package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/osupgrade/osupgrade/bench"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/orchestrator"
)

// The Docker fleet, wired into `run --fleet docker|auto` and `clean`.
func init() {
	dockerFactory = newDockerBackend
	dockerAvailable = func(ctx context.Context) error {
		cli, err := docker.Connect(ctx)
		if err != nil {
			return err
		}
		return cli.Close()
	}
	newDockerFleet = func(ctx context.Context, runID string, clk orchestrator.Clock, scale float64) (orchestrator.Fleet, error) {
		return docker.New(ctx, docker.Options{RunID: runID, Clock: clk, TimeScale: scale, Progress: terminalOrNil(os.Stderr)})
	}
	commands["clean"] = command{"remove every container, network, volume and image labelled as osupgrade's, and nothing else", cleanMain}
}

// terminalOrNil is w on a terminal, nil otherwise: serve's log is slog's,
// the Docker fleet's set-up lines are for a person watching.
func terminalOrNil(w io.Writer) io.Writer {
	if progress.IsTerminal(w) {
		return w
	}
	return nil
}

// newDockerBackend starts a fleet for one run; its resources are named and
// labelled after the scenario plus a random suffix, so runs never collide.
func newDockerBackend(ctx context.Context, name string, clk *clock.Scaled, progress io.Writer) (harness.Backend, func(context.Context) error, error) {
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return nil, nil, err
	}
	f, err := docker.New(ctx, docker.Options{RunID: name + "-" + hex.EncodeToString(suffix), Clock: clk, TimeScale: clk.Scale(), Progress: progress})
	if err != nil {
		return nil, nil, err
	}
	closer := func(ctx context.Context) error { return errors.Join(f.Clean(ctx), f.Close()) }
	return f, closer, nil
}

func cleanMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("clean", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: osupgrade clean\n\nRemoves every container, network, volume and image labelled osupgrade.owner=osupgrade,\nand what benchmark runs left (osupgrade.owner=osupgrade-bench: Swarm services too, and\nthe single-node swarm a benchmark initialised). Resources without those labels are never touched.\n")
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "osupgrade clean: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	code := 0
	if err := docker.CleanAll(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "osupgrade clean: %v\n", err)
		code = 1
	}
	if err := cleanSwarm(ctx, stdout); err != nil { // i19-swarm: the Swarm fleet's, when OSUPGRADE_SWARM_HOST is set
		fmt.Fprintf(stderr, "osupgrade clean: swarm: %v\n", err)
		code = 1
	}
	if err := bench.CleanAll(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "osupgrade clean: benchmark resources: %v\n", err)
		code = 1
	}
	return code
}

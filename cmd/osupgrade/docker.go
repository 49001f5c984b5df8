package main

import (
	"context"
	"fmt"
	"io"

	"github.com/osupgrade/osupgrade/bench"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/internal/cliflag"
)

// osupgrade clean removes what the Docker fleet and the benchmarks left.
func init() {
	commands["clean"] = command{"remove every container, network, volume and image labelled as osupgrade's, and nothing else", cleanMain}
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
	if err := cleanSwarm(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "osupgrade clean: swarm: %v\n", err)
		code = 1
	}
	if err := bench.CleanAll(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "osupgrade clean: benchmark resources: %v\n", err)
		code = 1
	}
	return code
}

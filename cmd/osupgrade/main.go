// Command osupgrade runs rollout scenarios, chaos runs and benchmarks against
// the osupgrade orchestrator, and serves its ARM-compatible API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/osupgrade/osupgrade/fakes/docker"
)

// command is one subcommand; it returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// internalCommands are run by osupgrade itself (the Docker fleet's agent),
// not by hand: listed apart in the usage.
var internalCommands = map[string]bool{}

const usage = `osupgrade — chaos-testing rolling OS image upgrades

Usage: osupgrade COMMAND [flags] [args]

Commands:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// This executable can be the agent of the Docker fleet's OS images (a
	// test binary cannot: it has no main of ours).
	docker.ExecutableIsOsupgrade()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "osupgrade: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	var names, internal []string
	for n := range commands {
		if internalCommands[n] {
			internal = append(internal, n)
		} else {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	sort.Strings(internal)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	if len(internal) > 0 {
		fmt.Fprint(w, "\nInternal commands:\n")
		for _, n := range internal {
			fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
		}
	}
	fmt.Fprint(w, "\nRun 'osupgrade COMMAND -h' for a command's flags.\n")
}

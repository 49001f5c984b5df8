package main

import (
	"context"
	"fmt"
	"io"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
)

// The in-VM agent is a subcommand, not a second binary: the Docker fleet's
// OS images hold this very executable (when it is static) and start it as
// `/osupgrade agent`, so an installed or copied osupgrade needs no Go to run
// --fleet docker. A subcommand rather than a name-dispatched multi-call
// binary: the image's entry point says what runs, whatever the file is
// called, and `osupgrade agent -h` explains it.
func init() {
	commands[docker.AgentCommand] = command{"the in-VM agent: PID 1 of every Docker fleet container (not run by hand)", agentMain}
	internalCommands[docker.AgentCommand] = true
}

func agentMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintf(stdout, "Usage: osupgrade %s\n\nThe in-VM agent of the Docker fleet, PID 1 of every instance container: it boots,\nruns custom data and extensions, serves the app and the health extension, and\nobeys fault switches. Its config is %s or $%s. Not run by hand.\n", docker.AgentCommand, "/"+agent.ConfigPath, agent.ConfigEnv)
			return 0
		}
		fmt.Fprintf(stderr, "osupgrade %s: unexpected argument %q\n", docker.AgentCommand, args[0])
		return 2
	}
	return agent.Main(ctx, stderr)
}

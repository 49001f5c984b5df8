package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/osupgrade/osupgrade/fakes/swarm"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/swarmlab"
)

// cleanSwarm is `osupgrade clean` on the swarm of $OSUPGRADE_SWARM_HOST,
// when it is set: our services, networks, and on every node our
// containers, volumes and images; the swarm itself stays.
func cleanSwarm(ctx context.Context, stdout io.Writer) error {
	host := os.Getenv(swarm.HostEnv)
	if host == "" {
		return nil
	}
	return swarm.CleanAll(ctx, host, stdout)
}

// `osupgrade swarm up|down|env`: the multi-node swarm on one machine that
// the Swarm fleet's tests and CI run on (internal/swarmlab).
func init() {
	commands["swarm"] = command{"start, stop or describe a local multi-node Docker Swarm for the Swarm fleet (root, Linux)", swarmMain}
}

const swarmUsage = `Usage: osupgrade swarm up|down|env [--dir DIR] [--nodes N]

A real multi-node Docker Swarm on this machine, for --fleet swarm and its
tests: each node is a dockerd in its own network namespace with its own data
and exec roots under DIR, linked by veths on the bridge osw-br0 (10.231.0.0/24),
joined into one swarm (the manager on node 1) and labelled osupgrade.zone=1..N.
Needs root, dockerd, nsenter, iptables and fuse-overlayfs. The host's own
engine and its swarm are not touched.

  up    start the nodes and form the swarm; prints the manager's DOCKER_HOST
  down  stop the engines and remove everything up made (processes, mounts,
        namespaces, veths, the bridge, cgroups, DIR)
  env   print DOCKER_HOST and OSUPGRADE_SWARM_HOST of the manager, the nodes
        (--json: the lab's state with each engine's memory)

Flags:
`

func swarmMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("swarm", stderr)
	dir := fs.String("dir", "/tmp/osupgrade-swarm", "the lab's directory: state, engine data and exec roots, sockets (short: sockets live under it)")
	nodes := fs.Int("nodes", 3, "engine nodes (zones 1..N), 1 to 9")
	asJSON := fs.Bool("json", false, "env: the lab's state as JSON, with each engine's memory")
	fs.Usage = func() { fmt.Fprint(stderr, swarmUsage); fs.PrintDefaults() }
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	switch fs.Arg(0) {
	case "up":
		lab, err := swarmlab.Up(ctx, *dir, *nodes, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "osupgrade swarm up: %v\n", err)
			return 1
		}
		printSwarmEnv(stdout, lab)
		return 0
	case "down":
		if err := swarmlab.Down(ctx, *dir, stderr); err != nil {
			fmt.Fprintf(stderr, "osupgrade swarm down: %v\n", err)
			return 1
		}
		return 0
	case "env":
		lab, err := swarmlab.Load(*dir)
		if err != nil {
			fmt.Fprintf(stderr, "osupgrade swarm env: %v\n", err)
			return 1
		}
		if *asJSON {
			mem, err := lab.Memory()
			if err != nil {
				fmt.Fprintf(stderr, "osupgrade swarm env: memory: %v\n", err)
				return 1
			}
			b, _ := json.MarshalIndent(struct {
				*swarmlab.Lab
				Memory []swarmlab.Usage `json:"memory"`
			}{lab, mem}, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return 0
		}
		printSwarmEnv(stdout, lab)
		return 0
	}
	fmt.Fprintf(stderr, "osupgrade swarm: unknown action %q: want up, down or env\n", fs.Arg(0))
	return 2
}

// printSwarmEnv prints shell assignments: the manager's engine for docker
// and for the Swarm fleet, and each node's, for a look at one node.
func printSwarmEnv(w io.Writer, lab *swarmlab.Lab) {
	m := lab.Manager()
	fmt.Fprintf(w, "export DOCKER_HOST=%s\n", m.Host())
	fmt.Fprintf(w, "export OSUPGRADE_SWARM_HOST=%s\n", m.Host())
	for _, nd := range lab.Nodes {
		fmt.Fprintf(w, "# node %d: zone %s, %s, DOCKER_HOST=%s\n", nd.Index, nd.Zone, nd.Addr, nd.Host())
	}
}

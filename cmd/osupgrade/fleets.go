package main

import (
	"context"
	"fmt"

	"github.com/osupgrade/osupgrade/orchestrator/backend"

	// Every fleet backend, each registered by name (package backend).
	_ "github.com/osupgrade/osupgrade/fakes/backends"
)

// The backends `run --fleet auto` and `both` are defined by (the CLI's
// contract): auto is autoFleet when it is available here, else
// baselineFleet; both runs baselineFleet, then autoFleet, and compares
// them.
const (
	baselineFleet = backend.DefaultFleet
	autoFleet     = "docker"
)

// lookupFleet resolves a --fleet name in the registry; a test stands one
// backend in for another through it.
var lookupFleet = backend.Lookup

// fleetNames is the registered backends for flag help: "docker, sim".
func fleetNames() string { return backend.List() }

// usableFleet resolves name and checks that it can run here now; the error
// says which and why, naming the registered backends for an unknown one.
func usableFleet(ctx context.Context, name string) (backend.Factory, error) {
	f, err := lookupFleet(name)
	if err != nil {
		return f, err
	}
	if f.Available != nil {
		if err := f.Available(ctx); err != nil {
			return f, fmt.Errorf("the %s fleet is not available here: %w", name, err)
		}
	}
	return f, nil
}

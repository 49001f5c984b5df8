// Package backends links every fleet backend of this module into a program,
// each registering itself by name with package backend: import it for its
// side effect, once, where a binary or test suite chooses its fleets.
// Adding a backend is its own register.go and one import here.
//
// It must hold nothing but these imports.
package backends

import (
	_ "github.com/osupgrade/osupgrade/fakes/docker" // "docker": containers on a Docker engine
	_ "github.com/osupgrade/osupgrade/fakes/sim"    // "sim": the simulated fleet on a virtual clock
	_ "github.com/osupgrade/osupgrade/fakes/swarm"  // "swarm": services on a Docker Swarm across nodes
)

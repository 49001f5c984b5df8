package fleettest_test

import (
	"testing"

	"github.com/osupgrade/osupgrade/fakes/fleettest"

	_ "github.com/osupgrade/osupgrade/fakes/docker" // backend "docker"
	_ "github.com/osupgrade/osupgrade/fakes/sim"    // backend "sim"
)

// Every registered backend keeps the whole contract.
func TestContract(t *testing.T) { fleettest.RunRegistered(t) }

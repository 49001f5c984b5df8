package fleettest_test

import (
	"testing"

	"github.com/osupgrade/osupgrade/fakes/fleettest"

	_ "github.com/osupgrade/osupgrade/fakes/backends" // every backend, registered by name
)

// Every registered backend keeps the whole contract.
func TestContract(t *testing.T) { fleettest.RunRegistered(t) }

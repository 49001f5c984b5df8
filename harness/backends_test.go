package harness

// The backends this package's tests run scenarios on, registered by name.
import (
	_ "github.com/osupgrade/osupgrade/fakes/docker" // backend "docker"
	_ "github.com/osupgrade/osupgrade/fakes/sim"    // backend "sim"
)

package harness

// The backends this package's tests run scenarios on, registered by name.
import (
	_ "github.com/osupgrade/osupgrade/fakes/backends" // every backend, registered by name
)

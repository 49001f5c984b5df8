package orchestrator

import (
	"context"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Fleet is what the orchestrator needs from the machines standing in for
// VMs: the part of the backend contract it uses (package
// orchestrator/backend declares the whole contract, in one file, and checks
// that every backend.Fleet is a Fleet; interfaces live with their consumer).
type Fleet interface {
	// Observe returns every instance of the set in ID order
	// (instances[i].ID == i). The slice is the caller's until the next call.
	Observe(ctx context.Context, set string) ([]plan.Instance, error)
	// Reimage replaces the instance's OS disk with one from image, keeps its
	// data disks and re-applies the set's extensions and custom data
	// (R-UPG-1). A rollback is a reimage to the previous version.
	Reimage(ctx context.Context, set string, id int, image plan.Image) error
}

// ChangeFeed (backend.ChangeFeed) is a Fleet that knows which sets changed: the runner then
// observes a set with a rollout in progress only when it changed or its
// planner asked to be woken, instead of at every step (a fleet watch).
type ChangeFeed interface {
	// ChangedSets lists the sets whose Observe may report something it did
	// not report before the last call of ChangedSets (any order, repeats
	// allowed). all: any set may have changed.
	ChangedSets() (sets []string, all bool)
}

// Clock is the orchestrator's only source of time.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

package harness

import (
	"context"

	"github.com/osupgrade/osupgrade/fakes/fault"
)

// restart: the instances reboot now on the same OS disk (docker restart):
// down, then booting, then healthy after the boot time and grace period.
// It ends by itself; a duration means nothing to it.
type restartFault struct{}

func init() { register("restart", restartFault{}) }

func (restartFault) Apply(ctx context.Context, w *World, t Target) (func(context.Context) error, error) {
	return nil, w.inject(ctx, t.Set, t.IDs, fault.Switch{Kind: fault.Restart, On: true})
}

package harness

import (
	"context"
	"fmt"

	"github.com/osupgrade/osupgrade/fakes/fault"
)

// loss: drop: percent of the instances' packets are dropped at random for
// the duration (default 30; 100 is a partition). On Docker an nftables rule
// in the container's namespace (internal/netfault); on the sim each health
// report is lost with that probability, drawn from the scenario seed per
// instance and probe interval, and a lost report reads Unknown (extension)
// or Unhealthy (probe).
type lossFault struct{}

// DefaultLossPercent is loss's drop: without one.
const DefaultLossPercent = 30

func init() { register("loss", lossFault{}) }

func (lossFault) Apply(ctx context.Context, w *World, t Target) (func(context.Context) error, error) {
	pct := DefaultLossPercent
	if t.Entry.Drop != nil {
		pct = *t.Entry.Drop
	}
	if pct < 0 || pct > 100 {
		return nil, fmt.Errorf("%w: loss: drop is %d, want 0 to 100 (percent of packets)", ErrBadInput, pct)
	}
	return switchFault{}.apply(ctx, w, t, fault.Switch{Kind: fault.Loss, Percent: pct})
}

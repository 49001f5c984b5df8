package harness

import (
	"context"
	"fmt"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/internal/netfault"
)

// latency: every packet to the instances is delayed by delay: for the
// duration. On Docker it needs sch_netem, which this machine's kernel does
// not have: the world refuses the scenario before it starts, naming the
// alternative, unless the entry says kind: tbf — then a TBF rate limit
// under which a health probe's netfault.ProbeBytes take the delay (larger
// transfers take longer: an approximation, said as such). On the sim boots
// take delay longer (the extensions' round trips), and a delay that
// reaches the health probe interval makes the probe time out: Unknown
// (extension) or Unhealthy (probe).
type latencyFault struct{}

func init() { register("latency", latencyFault{}) }

func (latencyFault) Apply(ctx context.Context, w *World, t Target) (func(context.Context) error, error) {
	d := t.Entry.Delay.Duration
	if d <= 0 {
		return nil, fmt.Errorf("%w: latency needs delay: (for example 2s)", ErrBadInput)
	}
	sw := fault.Switch{Kind: fault.Latency, Delay: d}
	switch t.Entry.Kind {
	case "", "netem":
	case "tbf":
		sw = fault.Switch{Kind: fault.SlowLink, Rate: netfault.TBFRateFor(d)}
	default:
		return nil, fmt.Errorf("%w: latency: kind is %q, want netem (default) or tbf", ErrBadInput, t.Entry.Kind)
	}
	return switchFault{}.apply(ctx, w, t, sw)
}

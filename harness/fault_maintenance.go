package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// maintenance: concurrent planned or unplanned maintenance makes a share of
// the set unhealthy (or, with unavailable: true, down) for a duration, while
// the rollout runs (R-STOP-2).
func init() {
	register("maintenance", switchFault{func(e *scenario.Entry) fault.Switch {
		if e.Unavailable {
			return fault.Switch{Kind: fault.Down}
		}
		return fault.Switch{Kind: fault.AppUnhealthy}
	}})
}

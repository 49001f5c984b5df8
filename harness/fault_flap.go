package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// flap: the app alternates healthy and unhealthy every `period`.
func init() {
	register("flap", switchFault{func(e *scenario.Entry) fault.Switch {
		return fault.Switch{Kind: fault.Flap, Period: e.Period.Duration}
	}})
}

package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// zone-down: every instance of one zone (select it with zone:) goes down for
// the duration.
func init() {
	register("zone-down", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Down} }})
}

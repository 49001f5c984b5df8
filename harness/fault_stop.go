package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// stop: the instances are stopped gracefully (docker stop); when the
// duration ends they boot again on the same OS disk (never without one).
func init() {
	register("stop", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Stop} }})
}

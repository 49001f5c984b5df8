package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// crash: the instances go down; when the duration ends they boot again on
// the same OS disk (forever without a duration).
func init() {
	register("crash", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Down} }})
}

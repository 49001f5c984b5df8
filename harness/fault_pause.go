package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// pause: a hung VM, powered on but answering nothing.
func init() {
	register("pause", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Pause} }})
}

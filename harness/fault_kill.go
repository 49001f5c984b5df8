package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// kill: the instances are killed at once (SIGKILL on Docker); when the
// duration ends they boot again on the same OS disk (never without one).
func init() {
	register("kill", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Kill} }})
}

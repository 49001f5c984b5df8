package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// unhealthy: the app reports unhealthy, whatever OS version it runs.
func init() {
	register("unhealthy", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.AppUnhealthy} }})
}

package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// extension-failure: the instances' extensions fail when they next run, as
// with an expired SAS token (R-CRED-1), for the duration.
func init() {
	register("extension-failure", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.ExtensionFailure} }})
}

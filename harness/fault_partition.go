package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// partition: the instances' network link is down for the duration (forever
// without one). On Docker the host-side veth goes down (internal/netfault);
// on the sim the instances keep running but their health cannot be read —
// Unknown to the health extension, Unhealthy to a load-balancer probe — and
// an extension that downloads through a SAS URL fails at boot. Reimages
// still work: the control plane does not go through the VM's network.
func init() {
	register("partition", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Partition} }})
}

package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// DefaultSlowLinkRate is slow-link's rate without rate: (bytes per second):
// ~1 KB/s, which turned 1 ms requests into ~0.5 s on this kind of machine.
const DefaultSlowLinkRate = 1024

// slow-link: the instances' link is rate-limited to rate: bytes per second
// (of scenario time) for the duration. Every extension downloads
// fault.ExtensionPayload at boot, so at 1 KB/s each one stretches the boot by
// 256 s: near the 5-minute wait of R-HEALTH-1; health reports are small and
// still pass. On Docker a TBF qdisc on each side of the veth
// (internal/netfault) at rate × the time scale, so that a download takes the
// same scenario time as on the sim.
func init() {
	register("slow-link", switchFault{func(e *scenario.Entry) fault.Switch {
		rate := e.Rate
		if rate <= 0 {
			rate = DefaultSlowLinkRate
		}
		return fault.Switch{Kind: fault.SlowLink, Rate: rate}
	}})
}

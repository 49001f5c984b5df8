package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// slow-boot: boots that start while it is on take `delay` longer; with
// `version:`, only boots of that image version (a slow new image, while a
// rollback to the old one boots as usual).
func init() {
	register("slow-boot", switchFault{func(e *scenario.Entry) fault.Switch {
		return fault.Switch{Kind: fault.SlowBoot, Delay: e.Delay.Duration, Version: e.Version}
	}})
}

package harness

import (
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// lie: the app is down but the health extension reports Healthy; a
// load-balancer probe sees the truth. Pair it with `unhealthy` to show the
// difference between probe and extension modes.
func init() {
	register("lie", switchFault{func(*scenario.Entry) fault.Switch { return fault.Switch{Kind: fault.Lie} }})
}

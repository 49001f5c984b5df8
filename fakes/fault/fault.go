// Package fault is the vocabulary of fault switches that every fleet backend
// obeys: the harness turns scenario faults into switches on instances, the
// sim flips fields, the Docker fleet tells the in-VM agent or the engine.
package fault

import (
	"context"
	"fmt"
	"time"
)

// ExtensionPayload is what every extension downloads at boot on both fleets:
// the cost that a slow link (slow-link, latency kind tbf) puts on a boot —
// ExtensionPayload / rate per extension.
const ExtensionPayload = 256 << 10

// Switch is one fault switch on a set of instances.
type Switch struct {
	Kind Kind
	On   bool
	// Delay is slow-boot's extra boot time.
	Delay time.Duration
	// Version narrows slow-boot to boots of one image version; empty: any.
	Version string
	// Period is flap's half-period (healthy, then unhealthy, for Period each).
	Period time.Duration
	// Percent is loss's drop probability.
	Percent int
	// Rate is slow-link's bytes per second.
	Rate int
}

// Kind names a switch.
type Kind string

const (
	AppUnhealthy     Kind = "app-unhealthy"     // the app reports unhealthy, whatever OS version
	Down             Kind = "down"              // the VM is not running (crash, stop, kill)
	SlowBoot         Kind = "slow-boot"         // boots started while on take Delay longer
	ExtensionFailure Kind = "extension-failure" // extensions fail on their next run (an expired SAS)
	Lie              Kind = "lie"               // the health extension reports Healthy while the app is down
	Flap             Kind = "flap"              // the app alternates healthy and unhealthy every Period
	Pause            Kind = "pause"             // the VM hangs: running, but answers nothing
	Kill             Kind = "kill"              // SIGKILL: the VM stops at once; off boots it on the same OS disk
	Stop             Kind = "stop"              // a graceful stop; off boots it on the same OS disk
	Restart          Kind = "restart"           // a reboot on the same OS disk; off does nothing
	Partition        Kind = "partition"         // the VM's network link is down: nothing reaches it, it reaches nothing
	SlowLink         Kind = "slow-link"         // the VM's link is rate-limited to Rate bytes per second
	Loss             Kind = "loss"              // Percent of the VM's packets are dropped at random
	Latency          Kind = "latency"           // every packet to the VM is delayed by Delay
)

// Network reports whether a kind acts on the VM's network link.
func (k Kind) Network() bool {
	switch k {
	case Partition, SlowLink, Loss, Latency:
		return true
	}
	return false
}

// Injector is implemented by fleets that obey fault switches.
type Injector interface {
	Inject(ctx context.Context, set string, ids []int, s Switch) error
}

// BadKind is how a bad image version misbehaves.
type BadKind string

const (
	NeverHealthy    BadKind = "never-healthy"     // boots, but the app never reports healthy
	CrashOnBoot     BadKind = "crash"             // the OS does not stay up
	FailsExtensions BadKind = "extension-failure" // every extension fails on it
	BadKindNone     BadKind = ""
)

// ParseBadKind reads a scenario's `bad:` value.
func ParseBadKind(s string) (BadKind, error) {
	switch BadKind(s) {
	case NeverHealthy, CrashOnBoot, FailsExtensions, BadKindNone:
		return BadKind(s), nil
	}
	return "", fmt.Errorf("unknown bad image kind %q (want never-healthy, crash or extension-failure)", s)
}

// ErrUnsupported is returned by a fleet that cannot apply a switch; the
// harness fails the scenario with it rather than pretend.
var ErrUnsupported = fmt.Errorf("fault not supported by this fleet")

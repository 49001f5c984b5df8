// Package fault is the vocabulary of fault switches that every fleet backend
// obeys: the harness turns scenario faults into switches on instances, the
// sim flips fields, the Docker fleet tells the in-VM agent or the engine.
package fault

import (
	"context"
	"fmt"
	"time"
)

// Switch is one fault switch on a set of instances.
type Switch struct {
	Kind Kind
	On   bool
	// Delay is slow-boot's extra boot time.
	Delay time.Duration
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
)

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

package plan

import (
	"fmt"
	"time"
)

// Health is an instance's application health as the Application Health
// extension or a load-balancer probe reports it.
type Health uint8

const (
	HealthUnknown Health = iota // counts as unhealthy
	HealthHealthy
	HealthUnhealthy
	HealthInitializing // grace period: wait, neither healthy nor unhealthy
)

var healthNames = [...]string{"Unknown", "Healthy", "Unhealthy", "Initializing"}

func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("Health(%d)", uint8(h))
}

// MarshalText makes Health read as its Azure name in JSON.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText accepts the Azure names.
func (h *Health) UnmarshalText(b []byte) error {
	for i, n := range healthNames {
		if n == string(b) {
			*h = Health(i)
			return nil
		}
	}
	return fmt.Errorf("unknown health %q (want Healthy, Unhealthy, Initializing or Unknown)", b)
}

// Provisioning is an instance's provisioning state.
type Provisioning uint8

const (
	ProvisioningSucceeded Provisioning = iota
	ProvisioningUpdating
	ProvisioningFailed
)

var provisioningNames = [...]string{"Succeeded", "Updating", "Failed"}

func (p Provisioning) String() string {
	if int(p) < len(provisioningNames) {
		return provisioningNames[p]
	}
	return fmt.Sprintf("Provisioning(%d)", uint8(p))
}

func (p Provisioning) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p *Provisioning) UnmarshalText(b []byte) error {
	for i, n := range provisioningNames {
		if n == string(b) {
			*p = Provisioning(i)
			return nil
		}
	}
	return fmt.Errorf("unknown provisioning state %q (want Succeeded, Updating or Failed)", b)
}

// Instance is one VM as the fleet observes it. Fleets return instances in ID
// order with Instances[i].ID == i: the planner addresses them by index.
type Instance struct {
	ID           int
	Zone         string // "" when the scale set has no zones
	UpdateDomain int
	Version      string // the image version its OS disk was created from
	Running      bool
	Provisioning Provisioning
	Health       Health
}

// Image names an OS image version: Ref is "publisher:offer:sku" for platform
// images or "gallery:NAME/IMAGE" for compute-gallery images.
type Image struct {
	Ref     string
	Version string
}

func (i Image) String() string { return i.Ref + ":" + i.Version }

// HealthMode says how the planner decides that an instance is healthy.
type HealthMode uint8

const (
	// HealthExtension: the Application Health extension's reported state.
	HealthExtension HealthMode = iota
	// HealthProbe: a load-balancer probe of the app port.
	HealthProbe
	// HealthNone: running and every extension provisioned (R-HEALTH-2).
	HealthNone
)

var healthModeNames = [...]string{"extension", "probe", "none"}

func (m HealthMode) String() string {
	if int(m) < len(healthModeNames) {
		return healthModeNames[m]
	}
	return fmt.Sprintf("HealthMode(%d)", uint8(m))
}

// ParseHealthMode reads "extension", "probe" or "none".
func ParseHealthMode(s string) (HealthMode, error) {
	for i, n := range healthModeNames {
		if n == s {
			return HealthMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown health mode %q (want extension, probe or none)", s)
}

// Status is a rollout's running status, with Azure's codes plus NotStarted
// for a rollout the pre-check refused (R-PRE-1).
type Status string

const (
	StatusRollingForward Status = "RollingForward"
	StatusCompleted      Status = "Completed"
	StatusFaulted        Status = "Faulted"
	StatusCancelled      Status = "Cancelled"
	StatusNotStarted     Status = "NotStarted"
)

// Terminal reports whether no further decision can come from this status.
func (s Status) Terminal() bool { return s != StatusRollingForward }

// Azure's error codes for a stopped rollout.
const (
	CodePrecheckUnhealthy = "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade"
	CodeSetUnhealthy      = "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
	CodeUpgradedUnhealthy = "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
)

// HealthTimeout is how long an upgraded instance has to become healthy before
// it is rolled back (R-HEALTH-1, R-ROLLBACK-1).
const HealthTimeout = 5 * time.Minute

// Observation is what the caller saw of the fleet, at Now.
type Observation struct {
	Now       time.Time
	Instances []Instance
	// Admit, when set, is asked before a batch starts: false holds the
	// batch back (the fleet schedule's R-AVAIL-1 across a region: another
	// set of the region has the version in flight in another zone). The
	// rollout stays in progress; the caller steps it again when the zone
	// frees. It must answer from the caller's state alone (no I/O).
	Admit func(Batch) bool
}

// Package scenario reads scenario files: the YAML contract shared by the CLI,
// nightly chaos runs and benchmarks. Field names are a public contract:
// extend, never rename.
//
// It only parses and validates; it must not run anything.
package scenario

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// File is one scenario.
type File struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Seed        *uint64    `yaml:"seed"`
	Start       *time.Time `yaml:"start"`
	Until       *Duration  `yaml:"until"`
	ScaleSets   []ScaleSet `yaml:"scaleSets"`
	Images      []Image    `yaml:"images"`
	Timeline    []Entry    `yaml:"timeline"`
	Expect      *Expect    `yaml:"expect"`
	// Fleets lists the fleets whose behaviour the expectations describe
	// (sim, docker); empty: both. `run --fleet auto` honours it.
	Fleets []string `yaml:"fleets"`
	// Compare says how `run --fleet both` compares the fleets' final
	// states: "instances" (default) instance by instance and batch by
	// batch; "counts" how many instances end in each state and each
	// batch's kind, version and size, for a scenario in which the fleets
	// may rightly pick different instances (see CompareModes).
	Compare string `yaml:"compare"`
	// Exclusive says the scenario must run with no other scenario beside
	// it (`run` runs independent scenarios at once): one that judges the
	// machine's own timing, or that would disturb the others.
	Exclusive bool `yaml:"exclusive"`

	// Path is where the file was read from.
	Path string `yaml:"-"`
}

// ScaleSet declares one scale set and its instances, or, with Count, many
// alike (see Count).
type ScaleSet struct {
	Name   string `yaml:"name"`
	Region string `yaml:"region"`
	// Count declares Count sets alike, named NAME-0 … NAME-(Count-1), 1 to
	// MaxScaleSets; every other field applies to each. Parse expands them:
	// File.ScaleSets holds the sets, never a Count.
	Count *int `yaml:"count"`
	// Regions spreads the Count sets round-robin: set k goes to
	// Regions[k % len(Regions)]. Supported regions, each once; not with
	// Region.
	Regions                []string       `yaml:"regions"`
	Instances              int            `yaml:"instances"`
	Zones                  []string       `yaml:"zones"`
	UpdateDomains          *int           `yaml:"updateDomains"`
	OS                     string         `yaml:"os"`
	Image                  string         `yaml:"image"`
	RunningVersion         string         `yaml:"runningVersion"`
	Health                 string         `yaml:"health"`
	AppHealth              *AppHealth     `yaml:"appHealth"`
	BootTime               *Duration      `yaml:"bootTime"`
	Extensions             []Extension    `yaml:"extensions"`
	CustomData             string         `yaml:"customData"`
	DataDisks              *int           `yaml:"dataDisks"`
	UpgradePolicy          UpgradePolicy  `yaml:"upgradePolicy"`
	APIVersion             string         `yaml:"apiVersion"`
	EnableAutomaticUpdates *bool          `yaml:"enableAutomaticUpdates"`
	SinglePlacementGroup   *bool          `yaml:"singlePlacementGroup"`
	LoadBalancerSKU        string         `yaml:"loadBalancerSku"`
	ServiceFabric          *ServiceFabric `yaml:"serviceFabric"`
	// Expect overrides the scenario's expectations for this set.
	Expect *Expect `yaml:"expect"`

	// Group is the name of the `count:` entry the set was expanded from;
	// "" for a set declared on its own.
	Group string `yaml:"-"`
	// Declared is the index of the set's entry in the file's scaleSets.
	Declared int `yaml:"-"`
}

// Limits of a scenario file's fleet, after `count:` is expanded. The
// reports list every set up to a size and aggregate by region phase beyond
// it; the result JSON always lists every set.
const (
	MaxScaleSets        = 10_000
	MaxInstancesPerSet  = 1_000_000
	MaxInstancesPerFile = 10_000_000
)

// AppHealth configures the Application Health extension.
type AppHealth struct {
	Protocol          string    `yaml:"protocol"`
	Port              int       `yaml:"port"`
	RequestPath       string    `yaml:"requestPath"`
	IntervalInSeconds int       `yaml:"intervalInSeconds"`
	NumberOfProbes    int       `yaml:"numberOfProbes"`
	GracePeriod       *Duration `yaml:"gracePeriod"`
}

// ServiceFabric declares a Service Fabric node type.
type ServiceFabric struct {
	Durability          string `yaml:"durability"`
	ExtensionDurability string `yaml:"extensionDurability"`
	TypeHandlerVersion  string `yaml:"typeHandlerVersion"`
	StatelessOnly       bool   `yaml:"statelessOnly"`
}

// Extension is one VM extension.
type Extension struct {
	Name                     string    `yaml:"name"`
	Type                     string    `yaml:"type"`
	Publisher                string    `yaml:"publisher"`
	TypeHandlerVersion       string    `yaml:"typeHandlerVersion"`
	ProvisionAfterExtensions []string  `yaml:"provisionAfterExtensions"`
	SASExpiresAt             *Duration `yaml:"sasExpiresAt"`
}

// UpgradePolicy holds the automatic OS upgrade and rolling upgrade knobs.
type UpgradePolicy struct {
	EnableAutomaticOSUpgrade            *bool     `yaml:"enableAutomaticOSUpgrade"`
	DisableAutomaticRollback            bool      `yaml:"disableAutomaticRollback"`
	MaxBatchInstancePercent             *int      `yaml:"maxBatchInstancePercent"`
	MaxUnhealthyInstancePercent         *int      `yaml:"maxUnhealthyInstancePercent"`
	MaxUnhealthyUpgradedInstancePercent *int      `yaml:"maxUnhealthyUpgradedInstancePercent"`
	PauseTimeBetweenBatches             *Duration `yaml:"pauseTimeBetweenBatches"`
	PrioritizeUnhealthyInstances        bool      `yaml:"prioritizeUnhealthyInstances"`
}

// Rolling is the file's rolling upgrade policy as the planner's type, with
// Azure's default for every knob the file leaves out: the one mapping from
// scenario files to the policy. The parser validates it (plan's Validate).
func (u UpgradePolicy) Rolling() plan.RollingUpgradePolicy {
	p := plan.DefaultRollingUpgradePolicy()
	if u.MaxBatchInstancePercent != nil {
		p.MaxBatchInstancePercent = *u.MaxBatchInstancePercent
	}
	if u.MaxUnhealthyInstancePercent != nil {
		p.MaxUnhealthyInstancePercent = *u.MaxUnhealthyInstancePercent
	}
	if u.MaxUnhealthyUpgradedInstancePercent != nil {
		p.MaxUnhealthyUpgradedInstancePercent = *u.MaxUnhealthyUpgradedInstancePercent
	}
	if u.PauseTimeBetweenBatches != nil {
		p.PauseTimeBetweenBatches = u.PauseTimeBetweenBatches.Duration
	}
	p.PrioritizeUnhealthyInstances = u.PrioritizeUnhealthyInstances
	return p
}

// Image is a version that appears during the scenario.
type Image struct {
	Image             string   `yaml:"image"`
	PublishAt         Duration `yaml:"publishAt"`
	Bad               string   `yaml:"bad"`
	Regions           []string `yaml:"regions"`
	ExcludeFromLatest bool     `yaml:"excludeFromLatest"`
}

// Entry is one timeline entry: when (At or On) and one action.
type Entry struct {
	At *Duration `yaml:"at"`
	On string    `yaml:"on"`
	// ScaleSet narrows the entry (and an `on:` event) to one set; empty: every set.
	ScaleSet string `yaml:"scaleSet"`

	Fault        string   `yaml:"fault"`
	Count        *int     `yaml:"count"`
	Percent      *int     `yaml:"percent"`
	Instances    []int    `yaml:"instances"`
	Zone         string   `yaml:"zone"`
	UpdateDomain *int     `yaml:"updateDomain"`
	Duration     Duration `yaml:"duration"`
	Delay        Duration `yaml:"delay"`
	Period       Duration `yaml:"period"`
	Rate         int      `yaml:"rate"`
	Version      string   `yaml:"version"`
	Kind         string   `yaml:"kind"`
	Extension    string   `yaml:"extension"`
	Unavailable  bool     `yaml:"unavailable"`
	Nth          int      `yaml:"nth"`
	// Drop is loss's share of packets dropped, in percent.
	Drop *int `yaml:"drop"`
	// Op is engine-error's call: reimage (default) or observe.
	Op string `yaml:"op"`

	Trigger       string     `yaml:"trigger"`
	RenewSas      string     `yaml:"renewSas"`
	ExpiresAt     *Duration  `yaml:"expiresAt"`
	ManualUpgrade *Selection `yaml:"manualUpgrade"`

	// Line is where the entry starts in the file.
	Line int `yaml:"-"`
	// groupSize is, when scaleSet names a `count:` entry, its count: the
	// entry then targets every set of it (Parse sets it).
	groupSize int
}

// TargetSets are the sets scaleSet names: that set, or every set of the
// `count:` entry it names; nil when the entry has no scaleSet.
func (e *Entry) TargetSets() []string {
	if e.ScaleSet == "" {
		return nil
	}
	if e.groupSize == 0 {
		return []string{e.ScaleSet}
	}
	out := make([]string, e.groupSize)
	for k := range out {
		out[k] = MemberName(e.ScaleSet, k)
	}
	return out
}

// Targets reports whether the entry acts on (or, with `on:`, listens to)
// set: every set when it has no scaleSet.
func (e *Entry) Targets(set string) bool {
	if e.ScaleSet == "" || e.ScaleSet == set {
		return true
	}
	if e.groupSize == 0 {
		return false
	}
	k, ok := memberIndex(e.ScaleSet, set)
	return ok && k < e.groupSize
}

// MemberName is the name of set k of a `count:` entry named group.
func MemberName(group string, k int) string { return group + "-" + strconv.Itoa(k) }

// memberIndex is k when set is MemberName(group, k).
func memberIndex(group, set string) (int, bool) {
	rest, ok := strings.CutPrefix(set, group+"-")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	k, err := strconv.Atoi(rest)
	return k, err == nil && k >= 0
}

// Selection is "all" or a list of instance ids.
type Selection struct {
	All bool
	IDs []int
}

// UnmarshalYAML reads `all` or `[0, 1, 2]`.
func (s *Selection) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "all" {
			return fmt.Errorf("line %d: manualUpgrade is %q, want all or a list of instance ids", n.Line, n.Value)
		}
		s.All = true
		return nil
	}
	return n.Decode(&s.IDs)
}

// Expect is what a run must end with; every field optional.
type Expect struct {
	Status       string         `yaml:"status"`
	ErrorCode    *string        `yaml:"errorCode"`
	MaxBatchSize *int           `yaml:"maxBatchSize"`
	Batches      *int           `yaml:"batches"`
	Successful   *int           `yaml:"successful"`
	Failed       *int           `yaml:"failed"`
	RolledBack   *int           `yaml:"rolledBack"`
	Versions     map[string]int `yaml:"versions"`
	Rollouts     *int           `yaml:"rollouts"`
	StartedBy    string         `yaml:"startedBy"`
	// StartedAfter and StartedBefore bound the last rollout's start, on the scenario clock.
	StartedAfter  *Duration `yaml:"startedAfter"`
	StartedBefore *Duration `yaml:"startedBefore"`
	// FirstBatch lists the instance ids of the last rollout's first batch.
	FirstBatch []string `yaml:"firstBatch"`
	// DataIntact: every instance's data disk holds what it held at time 0 (R-UPG-1).
	DataIntact *bool `yaml:"dataIntact"`
}

// Duration is a duration as ParseDuration reads it: "90s", "2h", "30d", "1d12h".
type Duration struct{ time.Duration }

// UnmarshalYAML reads a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: column %d: %w", n.Line, n.Column, err)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration back.
func (d Duration) MarshalYAML() (any, error) { return FormatDuration(d.Duration), nil }

// day is the unit of "Nd".
const day = 24 * time.Hour

// maxDays is the most whole days a time.Duration holds (about 292 years).
const maxDays = int64(math.MaxInt64 / int64(day))

// ParseDuration reads the durations of scenario files and feature steps: an
// optional whole number of days ("Nd") followed by an optional Go duration
// ("90s", "1h30m", "0.5h", "0"). So "2d", "1d12h", "70d1s" and "1d0.5h"
// (24h30m) are durations; "1.5d" (days are whole), "12h1d" (days come
// first), "1d-2h" (no sign after the days) and negative durations are not.
// Scenario timelines reach months ("70d1s"), which Go's durations spell only
// in hours.
func ParseDuration(s string) (time.Duration, error) {
	days, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		days, rest = "", s
	}
	var total time.Duration
	if hasDays {
		if days == "" || strings.Trim(days, "0123456789") != "" || strings.Contains(rest, "d") {
			return 0, fmt.Errorf("duration %q: days come first, once and whole, like 2d or 1d12h", s)
		}
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > maxDays {
			return 0, fmt.Errorf("duration %q: more than %d days, the longest duration", s, maxDays)
		}
		total = time.Duration(n) * day
		if rest == "" {
			return total, nil
		}
		if rest[0] == '+' || rest[0] == '-' {
			return 0, fmt.Errorf("duration %q: no sign after the days, like 1d12h", s)
		}
	}
	if rest == "0" {
		return total, nil
	}
	v, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a duration like 30s, 5m, 2h, 30d or 1d12h", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	if v > math.MaxInt64-total {
		return 0, fmt.Errorf("duration %q: more than %d days, the longest duration", s, maxDays)
	}
	return total + v, nil
}

// FormatDuration writes d the way ParseDuration reads it.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

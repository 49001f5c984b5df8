// Package chaos generates random scenarios from a seed, runs them, and
// shrinks a scenario that breaks an invariant to a minimal one: the
// nightly chaos run (`osupgrade chaos`), in the style of TigerBeetle's VOPR.
//
// One seed and one run index give one scenario, byte for byte. It must not
// read the wall clock or global randomness to build scenarios.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Spec is a generated scenario, in the terms the generator and the shrinker
// work in; Render turns it into a scenario file.
type Spec struct {
	Name          string
	Seed          uint64
	Instances     int
	Zones         []string
	UpdateDomains int // 0: the default
	Health        string
	Rollback      bool // disableAutomaticRollback
	Extensions    int
	Bad           string
	Manual        bool
	Faults        []FaultSpec
}

// FaultSpec is one timeline fault.
type FaultSpec struct {
	When     string // "at: 0s" or `on: "batch 2 started"`
	Fault    string
	Select   string // "count: 3", "zone: \"1\"", "" (all)
	Duration time.Duration
	Extra    string // fault parameters, YAML flow fields
}

// Faults the generator draws from; zone-down is added for zoned sets.
var generated = []string{"unhealthy", "crash", "kill", "stop", "restart", "pause", "flap", "slow-boot", "maintenance", "partition", "loss", "latency", "slow-link", "lie", "engine-error", "orchestrator-restart"}

// Generate draws scenario run of the seed: sizes log-uniform up to
// maxInstances, nudged onto the 20% fenceposts (multiples of 5, ±1);
// fault shares at floor(N/5) ± 1 and delays around the 5-minute wait.
func Generate(seed uint64, run, maxInstances int) Spec {
	rng := rand.New(rand.NewPCG(seed, uint64(run)))
	n := 1 + int(float64(maxInstances-1)*pow(rng.Float64(), 4))
	if rng.IntN(2) == 0 && n >= 5 {
		n = n/5*5 + rng.IntN(3) - 1
	}
	n = max(1, min(n, maxInstances))
	s := Spec{Name: fmt.Sprintf("chaos-%d-%d", seed, run), Seed: rng.Uint64N(1 << 32), Instances: n}
	if rng.IntN(2) == 0 {
		s.Zones = []string{"1", "2", "3"}[:2+rng.IntN(2)]
	}
	if rng.IntN(3) == 0 {
		s.UpdateDomains = 1 + rng.IntN(5)
	}
	s.Health = []string{"extension", "extension", "probe", "none"}[rng.IntN(4)]
	s.Rollback = rng.IntN(10) == 0
	s.Extensions = rng.IntN(3)
	if rng.IntN(6) == 0 {
		s.Bad = []string{"never-healthy", "crash", "extension-failure"}[rng.IntN(3)]
	}
	// Without a health probe or extension automatic upgrades cannot be
	// enabled (R-REQ-2): only a manual trigger upgrades such a set.
	s.Manual = rng.IntN(3) != 0 || s.Health == "none"
	names := generated
	if len(s.Zones) > 0 {
		names = append(slices.Clone(names), "zone-down")
	}
	for range rng.IntN(4) {
		s.Faults = append(s.Faults, drawFault(rng, names, n, s.Zones))
	}
	return s
}

// WithoutNetem is the spec for a fleet whose kernel has no sch_netem: its
// latency faults shape the link with TBF instead (kind: tbf), the
// alternative the latency fault documents. Every draw is the same, so a
// seed replays alike on any machine without netem.
func (s Spec) WithoutNetem() Spec {
	s.Faults = slices.Clone(s.Faults)
	for i := range s.Faults {
		if f := &s.Faults[i]; f.Fault == "latency" && !strings.Contains(f.Extra, "kind:") {
			f.Extra = strings.TrimPrefix(f.Extra+", kind: tbf", ", ")
		}
	}
	return s
}

func pow(x float64, k int) float64 {
	r := 1.0
	for range k {
		r *= x
	}
	return r
}

func drawFault(rng *rand.Rand, names []string, n int, zones []string) FaultSpec {
	f := FaultSpec{Fault: names[rng.IntN(len(names))]}
	switch rng.IntN(4) {
	case 0:
		f.When = "at: 0s"
	case 1:
		f.When = fmt.Sprintf("at: %ds", rng.IntN(600))
	case 2:
		f.When = fmt.Sprintf(`on: "batch %d %s"`, 1+rng.IntN(3), []string{"started", "finished"}[rng.IntN(2)])
	default:
		f.When = `on: "rollback started"`
	}
	// Around the 20% fenceposts: floor(N/5) - 1 .. floor(N/5) + 1.
	k := max(0, min(n, n/5+rng.IntN(3)-1))
	switch rng.IntN(3) {
	case 0:
		f.Select = fmt.Sprintf("count: %d", k)
	case 1:
		f.Select = fmt.Sprintf("percent: %d", 19+rng.IntN(3))
	default:
		f.Select = fmt.Sprintf("count: %d", min(n, 1+rng.IntN(3)))
	}
	if rng.IntN(3) > 0 {
		f.Duration = time.Duration(5+rng.IntN(55)) * time.Minute
	}
	around5m := func() string { return fmt.Sprintf("%ds", 240+rng.IntN(121)) } // 4m..6m
	switch f.Fault {
	case "zone-down":
		f.Select = fmt.Sprintf("zone: %q", zones[rng.IntN(len(zones))])
	case "slow-boot":
		f.Extra = "delay: " + around5m()
	case "flap":
		f.Extra = fmt.Sprintf("period: %ds", 10+rng.IntN(300))
	case "loss":
		f.Extra = fmt.Sprintf("drop: %d", []int{10, 30, 50, 100}[rng.IntN(4)])
	case "latency":
		f.Extra = fmt.Sprintf("delay: %dms", 100+rng.IntN(8000))
	case "slow-link":
		f.Extra = fmt.Sprintf("rate: %d", 512+rng.IntN(4096))
	case "maintenance":
		if rng.IntN(2) == 0 {
			f.Extra = "unavailable: true"
		}
	case "engine-error":
		f.Extra = []string{"nth: 1", "nth: 3", "op: observe", "kind: slow, delay: 20s"}[rng.IntN(4)]
		if f.Extra == "op: observe" {
			f.Select, f.Duration = "", time.Minute
		}
	case "orchestrator-restart":
		f.Select, f.Duration = "", 0
		if rng.IntN(2) == 0 {
			f.Extra = fmt.Sprintf("nth: %d", 1+rng.IntN(3))
		}
	case "restart":
		f.Duration = 0
	}
	return f
}

// Render writes the spec as a scenario file.
func (s Spec) Render() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ndescription: generated by osupgrade chaos; checked against I-1..I-7 only\nseed: %d\nuntil: 2d\n", s.Name, s.Seed)
	b.WriteString("scaleSets:\n  - name: web\n")
	fmt.Fprintf(&b, "    instances: %d\n", s.Instances)
	if len(s.Zones) > 0 {
		fmt.Fprintf(&b, "    zones: [%s]\n", quoteAll(s.Zones))
	}
	if s.UpdateDomains > 0 {
		fmt.Fprintf(&b, "    updateDomains: %d\n", s.UpdateDomains)
	}
	b.WriteString("    image: Canonical:UbuntuServer:18.04-LTS:latest\n    runningVersion: 18.04.202101010\n")
	fmt.Fprintf(&b, "    health: %s\n", s.Health)
	var policy []string
	if s.Health == "none" {
		policy = append(policy, "enableAutomaticOSUpgrade: false")
	}
	if s.Rollback {
		policy = append(policy, "disableAutomaticRollback: true")
	}
	if len(policy) > 0 {
		fmt.Fprintf(&b, "    upgradePolicy: {%s}\n", strings.Join(policy, ", "))
	}
	if s.Extensions > 0 {
		b.WriteString("    extensions:\n")
		for i := range s.Extensions {
			fmt.Fprintf(&b, "      - {name: ext%d, type: CustomScript}\n", i)
		}
	}
	b.WriteString("images:\n  - {image: Canonical:UbuntuServer:18.04-LTS:18.04.202102010, publishAt: 0s")
	if s.Bad != "" {
		fmt.Fprintf(&b, ", bad: %s", s.Bad)
	}
	b.WriteString("}\n")
	if s.Manual || len(s.Faults) > 0 {
		b.WriteString("timeline:\n")
	}
	if s.Manual {
		b.WriteString("  - {at: 0s, trigger: manual}\n")
	}
	for _, f := range s.Faults {
		fields := []string{f.When, "fault: " + f.Fault}
		if f.Select != "" {
			fields = append(fields, f.Select)
		}
		if f.Duration > 0 {
			fields = append(fields, "duration: "+scenario.FormatDuration(f.Duration))
		}
		if f.Extra != "" {
			fields = append(fields, f.Extra)
		}
		fmt.Fprintf(&b, "  - {%s}\n", strings.Join(fields, ", "))
	}
	return []byte(b.String())
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Parse renders and parses the spec.
func (s Spec) Parse() (*scenario.File, error) {
	return scenario.Parse(s.Name+".yaml", s.Render(), harness.Vocabulary())
}

// Violated lists the invariants a result breaks, and its error if any.
func Violated(r *harness.Result) []string {
	var ids []string
	for _, inv := range r.Invariants {
		if !inv.OK {
			ids = append(ids, inv.ID)
		}
	}
	if r.Error != "" {
		ids = append(ids, "error")
	}
	return ids
}

// Shrink makes a failing spec smaller while fails still reports it failing
// the same way: fewer faults, fewer instances, no zones, default update
// domains, no bad image, fewer extensions. At most budget runs.
func Shrink(s Spec, fails func(Spec) bool, budget int) Spec {
	for budget > 0 {
		improved := false
		for _, c := range candidates(s) {
			if budget == 0 {
				break
			}
			budget--
			if fails(c) {
				s, improved = c, true
				break
			}
		}
		if !improved {
			return s
		}
	}
	return s
}

func candidates(s Spec) []Spec {
	var out []Spec
	for i := range s.Faults {
		c := s
		c.Faults = slices.Delete(slices.Clone(s.Faults), i, i+1)
		out = append(out, c)
	}
	if s.Instances > 1 {
		for _, n := range []int{s.Instances / 2, s.Instances - 1} {
			if n >= 1 && n < s.Instances {
				c := s
				c.Instances = n
				out = append(out, c)
			}
		}
	}
	if len(s.Zones) > 0 && !slices.ContainsFunc(s.Faults, func(f FaultSpec) bool { return f.Fault == "zone-down" }) {
		c := s
		c.Zones = nil
		out = append(out, c)
	}
	if s.UpdateDomains != 0 {
		c := s
		c.UpdateDomains = 0
		out = append(out, c)
	}
	if s.Bad != "" {
		c := s
		c.Bad = ""
		out = append(out, c)
	}
	if s.Extensions > 0 {
		c := s
		c.Extensions--
		out = append(out, c)
	}
	for i, f := range s.Faults {
		if f.Duration > 0 {
			c := s
			c.Faults = slices.Clone(s.Faults)
			c.Faults[i].Duration = 0
			out = append(out, c)
		}
	}
	return out
}

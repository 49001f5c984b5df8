package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Report is everything one `osupgrade bench` run measured: the contract of
// bench.json and of the committed baseline (bench/baseline.json).
type Report struct {
	Schema             int           `json:"schema"`
	Started            time.Time     `json:"started"`
	Quick              bool          `json:"quick"`
	Env                Env           `json:"env"`
	QuantileDefinition string        `json:"quantileDefinition"`
	Sim                []SimCase     `json:"sim"`
	Planner            []PlannerCase `json:"planner"`
	Fleet              []FleetCase   `json:"fleet,omitempty"`
	Serve              *ServeCase    `json:"serve,omitempty"`
	Growth             []Growth      `json:"growth"`
	Docker             []DockerCase  `json:"docker"`
	// DockerSkipped says why no Docker case ran, when none did.
	DockerSkipped string `json:"dockerSkipped,omitempty"`
	// Interrupted says where an interrupted run stopped; what it reports
	// was measured to the end.
	Interrupted string `json:"interrupted,omitempty"`
	// DockerNotRun names the Docker cases a spent budget left out.
	DockerNotRun string      `json:"dockerNotRun,omitempty"`
	Targets      []Target    `json:"targets"`
	Baseline     *Comparison `json:"baseline,omitempty"`
}

// ReportSchema is the version of Report's JSON shape.
const ReportSchema = 1

// Env is the machine the numbers come from.
type Env struct {
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel,omitempty"`
	Docker    string `json:"docker,omitempty"`
	// LoadAvg is /proc/loadavg's 1-minute load at the start and the end
	// of the run: other work on the machine skews every wall time.
	LoadStart float64 `json:"loadStart"`
	LoadEnd   float64 `json:"loadEnd"`
}

// SimCase is the repeated measurement of one simulated rollout.
type SimCase struct {
	Mix              Mix     `json:"mix"`
	N                int     `json:"n"`
	Reps             int     `json:"reps"`
	Wall             Summary `json:"wall"` // seconds per rollout
	CPU              Summary `json:"cpu"`  // CPU seconds per rollout
	NsPerInstance    Summary `json:"nsPerInstance"`
	InstancesPerSec  Summary `json:"instancesPerSec"`
	BytesPerInstance Summary `json:"bytesPerInstance"`
	// The virtual-time outcome is deterministic: one seed, one history.
	Makespan      float64 `json:"makespanSeconds"`
	Bound         Bound   `json:"bound"`
	MakespanRatio float64 `json:"makespanRatio"`
	Status        string  `json:"status"`
	Batches       int     `json:"batches"`
	Upgraded      int     `json:"upgraded"`
	Failed        int     `json:"failed"`
}

// Key names the case in baseline comparisons.
func (c SimCase) Key() string { return fmt.Sprintf("sim/mix=%s/N=%d", c.Mix, c.N) }

// FleetCase is the repeated measurement of one platform rollout over a
// fleet of Sets × Instances.
type FleetCase struct {
	Mix              Mix     `json:"mix"`
	Sets             int     `json:"sets"`
	Instances        int     `json:"instances"` // per set
	Reps             int     `json:"reps"`
	Wall             Summary `json:"wall"`
	CPU              Summary `json:"cpu"`
	BytesPerInstance Summary `json:"bytesPerInstance"`
	// The virtual-time outcome is deterministic: one seed, one history.
	Makespan    FleetMakespan `json:"makespan"`
	Ratio       float64       `json:"rollingToBound"`
	RegionRatio float64       `json:"rollingToRegionBound"`
	Completed   int           `json:"completed"`
}

// Key names the case in baseline comparisons.
func (c FleetCase) Key() string {
	return fmt.Sprintf("fleet/mix=%s/sets=%d/instances=%d", c.Mix, c.Sets, c.Instances)
}

// PlannerCase is the planner alone at one size.
type PlannerCase struct {
	N         int `json:"n"`
	Reps      int `json:"reps"`
	Decisions int `json:"decisions"`
	// PlanNsPerInstance is PlanBatches' cost; DecisionNs one Next of a
	// planner-only rollout, on average.
	PlanNsPerInstance Summary `json:"planNsPerInstance"`
	DecisionNs        Summary `json:"decisionNs"`
}

// Key names the case in baseline comparisons.
func (c PlannerCase) Key() string { return fmt.Sprintf("planner/N=%d", c.N) }

// DockerCase is one container count, three ways, measured alternately.
type DockerCase struct {
	N    int `json:"n"`
	Reps int `json:"reps"`
	// Seconds per rollout of all N: ours, the engine's plain recreate at the
	// same concurrency, Swarm's health-gated rolling update.
	Ours  Summary `json:"ours"`
	Limit Summary `json:"limit"`
	// LowerBound is the least a health-gated rollout can take, turn by
	// turn: that turn's limit plus, for each batch the rules force, one
	// boot and one health confirmation (HealthGate seconds of wall time).
	// Ways without a health gate to bound leave both zero.
	LowerBound Summary `json:"lowerBound"`
	HealthGate float64 `json:"healthGateSeconds,omitempty"`
	Swarm      Summary `json:"swarm"`
	OursLim    *Ratio  `json:"oursToLimit,omitempty"`
	OursBound  *Ratio  `json:"oursToLowerBound,omitempty"`
	OursSwm    *Ratio  `json:"oursToSwarm,omitempty"`
	Settings   string  `json:"settings"`
	// Skipped names the ways that could not run, and why.
	Skipped []string `json:"skipped,omitempty"`
	// Stopped says why fewer turns than asked were made.
	Stopped string `json:"stopped,omitempty"`
}

// Key names the case in baseline comparisons.
func (c DockerCase) Key() string { return fmt.Sprintf("docker/N=%d", c.N) }

// Target is one of the targets and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// LoadReport reads a Report (bench.json or the baseline).
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema != ReportSchema {
		return nil, fmt.Errorf("%s: schema %d, want %d", path, r.Schema, ReportSchema)
	}
	return &r, nil
}

// Comparison is this run against the baseline, quantity by quantity.
type Comparison struct {
	BaselineStarted time.Time `json:"baselineStarted"`
	BaselineEnv     Env       `json:"baselineEnv"`
	Deltas          []Delta   `json:"deltas"`
	Regressions     int       `json:"regressions"`
}

// Delta is one quantity of one case, now and in the baseline (lower is
// better for every quantity compared).
type Delta struct {
	Key      string  `json:"key"`
	Quantity string  `json:"quantity"`
	Current  Summary `json:"current"`
	Baseline Summary `json:"baseline"`
	Change   float64 `json:"change"` // current mean ÷ baseline mean − 1
	Verdict  Verdict `json:"verdict"`
}

// CompareWith compares r with base on every case both measured.
func (r *Report) CompareWith(base *Report) *Comparison {
	c := &Comparison{BaselineStarted: base.Started, BaselineEnv: base.Env}
	// A time measured on another CPU model says nothing about our code;
	// bytes and the Docker ratios (both ways timed on one machine) do.
	sameCPU := r.Env.CPUModel == base.Env.CPUModel && r.Env.CPUs == base.Env.CPUs
	add := func(key, q string, cur, old Summary, v Verdict) {
		if cur.N == 0 || old.N == 0 {
			return
		}
		if v == "" {
			v = Compare(cur, old)
		}
		d := Delta{Key: key, Quantity: q, Current: cur, Baseline: old, Verdict: v}
		if old.Mean != 0 {
			d.Change = cur.Mean/old.Mean - 1
		}
		if d.Verdict == Regression {
			c.Regressions++
		}
		c.Deltas = append(c.Deltas, d)
	}
	cpuTime := Verdict("")
	if !sameCPU {
		cpuTime = OtherCPU
	}
	for _, s := range r.Sim {
		for _, o := range base.Sim {
			if o.Key() == s.Key() {
				add(s.Key(), "ns/instance", s.NsPerInstance, o.NsPerInstance, cpuTime)
				add(s.Key(), "B/instance", s.BytesPerInstance, o.BytesPerInstance, "")
			}
		}
	}
	for _, f := range r.Fleet {
		for _, o := range base.Fleet {
			if o.Key() == f.Key() {
				add(f.Key(), "CPU s", f.CPU, o.CPU, cpuTime)
				add(f.Key(), "B/instance", f.BytesPerInstance, o.BytesPerInstance, "")
			}
		}
	}
	if r.Serve != nil && base.Serve != nil && r.Serve.Sets == base.Serve.Sets {
		add("serve/GET scaleSet", "ms", r.Serve.ScaleSet, base.Serve.ScaleSet, cpuTime)
		add("serve/GET rollingUpgrades/latest", "ms", r.Serve.Latest, base.Serve.Latest, cpuTime)
	}
	for _, p := range r.Planner {
		for _, o := range base.Planner {
			if o.Key() == p.Key() {
				add(p.Key(), "ns/decision", p.DecisionNs, o.DecisionNs, cpuTime)
				add(p.Key(), "plan ns/instance", p.PlanNsPerInstance, o.PlanNsPerInstance, cpuTime)
			}
		}
	}
	for _, d := range r.Docker {
		for _, o := range base.Docker {
			if o.Key() == d.Key() {
				// The ratios move with the engine's speed too (ours waits
				// for fixed boots; Swarm's probes are execs): judge them
				// only when the engine's own recreate took as long as in
				// the baseline, the limit being the run's control.
				ratio := Verdict("")
				if Compare(d.Limit, o.Limit) != Same {
					ratio = OtherEngine
				}
				add(d.Key(), "ours ÷ limit", d.OursLim.summary(), o.OursLim.summary(), ratio)
				add(d.Key(), "ours ÷ Swarm", d.OursSwm.summary(), o.OursSwm.summary(), ratio)
				add(d.Key(), "ours s", d.Ours, o.Ours, EngineBound)
				add(d.Key(), "limit s", d.Limit, o.Limit, EngineBound)
				add(d.Key(), "swarm s", d.Swarm, o.Swarm, EngineBound)
			}
		}
	}
	return c
}

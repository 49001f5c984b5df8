package harness

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Result is the result contract of `osupgrade run --json`.
type Result struct {
	Scenario         string        `json:"scenario"`
	File             string        `json:"file,omitempty"` // the scenario file the run read, as named
	Seed             uint64        `json:"seed"`
	Fleet            string        `json:"fleet"`
	ScaleSets        []SetResult   `json:"scaleSets"`
	Expectations     []Expectation `json:"expectations"`
	ScenarioDuration string        `json:"scenarioDuration"`
	WallDuration     string        `json:"wallDuration"`
	Problems         []string      `json:"problems,omitempty"`
	Error            string        `json:"error,omitempty"`
	Events           []EventRecord `json:"events,omitempty"`
	// Invariants are SPEC.md's I-1..I-7, checked on the fleet-side journal.
	Invariants []Invariant     `json:"invariants"`
	Journal    *JournalSummary `json:"journal,omitempty"`
	// FaultTimings: how long applying each fault took in wall time, the
	// slowest first (when the run was timed: Options.Wall).
	FaultTimings []FaultTiming `json:"faultTimings,omitempty"`
	// FinalState is what the fleet shows of each scale set at the end, as
	// `run --fleet both` compares it between the fleets (CompareFinal).
	FinalState []FinalSet `json:"finalState"`
	// ComparedWith names the fleet whose run of the same scenario this
	// one was compared with (`run --fleet both`); Mismatches lists where
	// the final states differ, and make the run fail.
	ComparedWith     string        `json:"comparedWith,omitempty"`
	Mismatches       []string      `json:"mismatches,omitempty"`
	Start            time.Time     `json:"start"`
	WallStart        time.Time     `json:"wallStart,omitzero"` // when the run began on the wall clock (when timed: Options.Wall)
	OK               bool          `json:"ok"`
	scenarioDuration time.Duration `json:"-"`
	wall             time.Duration `json:"-"`
	world            *World        `json:"-"`
}

// FaultTiming is one application of a timeline fault: to how many instances
// and how long it took before the fault was in effect (wall time: on Docker,
// inspection, netlink/nftables, agent calls).
type FaultTiming struct {
	Fault     string `json:"fault"`
	Entry     int    `json:"timelineEntry"`
	Instances int    `json:"instances"`
	Wall      string `json:"wall"` // a Go duration
}

// Took is the wall time the application took.
func (f FaultTiming) Took() time.Duration {
	d, _ := time.ParseDuration(f.Wall)
	return d
}

// SetResult is one scale set's outcome.
type SetResult struct {
	Name string `json:"name"`
	// Region is the set's region; Phase its region's phase (from 1) in the
	// platform's rollout of the set's image over the scenario's regions
	// (R-AVAIL-2), 0 when the region is not a supported one.
	Region           string                        `json:"region,omitempty"`
	Phase            int                           `json:"phase,omitempty"`
	Status           string                        `json:"status"`
	ErrorCode        string                        `json:"errorCode"`
	Rejection        string                        `json:"rejection,omitempty"`
	History          []orchestrator.UpgradeHistory `json:"history"`
	Batches          []BatchResult                 `json:"batches"`
	Instances        []InstanceResult              `json:"instances"`
	InstancesOmitted int                           `json:"instancesOmitted,omitempty"`
	Versions         map[string]int                `json:"versions"`
	Rollouts         int                           `json:"rollouts"`
}

// BatchResult is one batch that started.
type BatchResult struct {
	Attempt          int      `json:"attempt"`
	Index            int      `json:"index"`
	Size             int      `json:"size"`
	Instances        []string `json:"instances,omitempty"`
	InstancesOmitted int      `json:"instancesOmitted,omitempty"`
	Zone             string   `json:"zone"`
	UpdateDomain     int      `json:"updateDomain"`
	StartTime        string   `json:"startTime"`
	EndTime          string   `json:"endTime"`
}

// InstanceResult is one instance at the end.
type InstanceResult struct {
	ID                string `json:"id"`
	Zone              string `json:"zone"`
	UpdateDomain      int    `json:"updateDomain"`
	Version           string `json:"version"`
	Health            string `json:"health"`
	ProvisioningState string `json:"provisioningState"`
	RolledBack        bool   `json:"rolledBack"`
	DataIntact        bool   `json:"dataIntact"`
}

// Expectation is one checked field.
type Expectation struct {
	ScaleSet string `json:"scaleSet,omitempty"`
	Field    string `json:"field"`
	OK       bool   `json:"ok"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
}

// EventRecord is a rollout event on the scenario clock.
type EventRecord struct {
	Time    string `json:"time"`
	Set     string `json:"set"`
	Attempt int    `json:"attempt"`
	Event   string `json:"event"`
}

// Listing caps: a 10^6-instance result lists counts, not every instance.
const (
	MaxListedInstances      = 10_000
	MaxListedBatchInstances = 1_000
)

// Run builds a world, runs the scenario and checks its expectations.
// A non-nil error is bad input or an environment failure; a run whose
// expectations fail returns a Result with OK false.
func Run(ctx context.Context, f *scenario.File, opts Options) (*Result, error) {
	var wallStart time.Time
	if opts.Wall != nil {
		wallStart = opts.Wall()
	}
	w, err := NewWorld(ctx, f, opts)
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			_ = w.Close(context.WithoutCancel(ctx)) // an error path: its error is the one returned
		}
	}()
	runErr := w.Run(ctx, opts)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r, err := w.Result(ctx)
	if err != nil {
		return nil, err
	}
	// What the run could not remove is reported, not dropped: this engine
	// at times keeps a stale endpoint that no container holds, and then
	// refuses to remove the network (moby#42119) until it restarts.
	closed = true
	if err := w.Close(context.WithoutCancel(ctx)); err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("tearing down the %s fleet: %v (left behind; `osupgrade clean` removes what carries our labels)", w.FleetName, err))
	}
	if runErr != nil {
		r.Error = runErr.Error()
		r.OK = false
	}
	r.File = f.Path
	if opts.Wall != nil {
		r.WallStart = wallStart.UTC()
		r.wall = opts.Wall().Sub(wallStart)
		r.WallDuration = r.wall.String()
	}
	return r, nil
}

// Result reads the outcome from the orchestrator's API and the fleet, and
// checks the expectations.
func (w *World) Result(ctx context.Context) (*Result, error) {
	now := w.Clock.Now()
	r := &Result{Scenario: w.Scenario.Name, Seed: w.Seed, Fleet: w.FleetName, Start: w.Start, world: w}
	r.scenarioDuration = now.Sub(w.Start)
	r.ScenarioDuration = r.scenarioDuration.String()
	r.Problems = w.problems
	r.FaultTimings = slices.Clone(w.faultTimings)
	slices.SortStableFunc(r.FaultTimings, func(a, b FaultTiming) int { return cmp.Compare(b.Took(), a.Took()) })
	for _, e := range w.events {
		r.Events = append(r.Events, EventRecord{Time: e.Time.Format(time.RFC3339), Set: e.Set, Attempt: e.Attempt, Event: e.Event.String()})
	}
	phase := regionPhases(w.Scenario.ScaleSets)
	for i, s := range w.Scenario.ScaleSets {
		sr, fs, err := w.setResult(ctx, s.Name, s.RunningVersion)
		if err != nil {
			return nil, err
		}
		sr.Region, sr.Phase = or(s.Region, DefaultRegion), phase[i]
		r.ScaleSets = append(r.ScaleSets, sr)
		r.FinalState = append(r.FinalState, fs)
		r.Expectations = append(r.Expectations, check(s.Name, w.expectFor(&s), sr, w.Start, w.lastStart(s.Name))...)
	}
	for _, u := range w.unfired() {
		r.Expectations = append(r.Expectations, Expectation{Field: "timeline", Expected: "fired", Got: u + " never fired"})
	}
	r.OK = true
	for _, e := range r.Expectations {
		r.OK = r.OK && e.OK
	}
	if err := w.addInvariants(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (w *World) lastStart(set string) time.Time {
	var t time.Time
	_ = w.Orch.View(set, func(rec *orchestrator.SetRecord) {
		if a := rec.Last(); a != nil {
			t = a.Rollout.StartTime()
		}
	})
	return t
}

// setResult is one set's outcome, and what the fleet shows of it (fs).
func (w *World) setResult(ctx context.Context, name, initialVersion string) (sr SetResult, fs FinalSet, err error) {
	sr = SetResult{Name: name, Status: string(plan.StatusNotStarted), Versions: map[string]int{}}
	fs = FinalSet{Name: name, Instances: []FinalInstance{}, Batches: []FleetBatch{}}
	if err, ok := w.rejected[name]; ok {
		sr.Status, sr.Rejection = "Rejected", err.Error()
		var ve *orchestrator.ValidationError
		if asValidation(err, &ve) {
			sr.ErrorCode = ve.Rule
		}
		return sr, fs, nil
	}
	rolledBack := map[int]bool{}
	err = w.Orch.View(name, func(rec *orchestrator.SetRecord) {
		sr.Rollouts = len(rec.Attempts)
		for _, a := range rec.Attempts {
			ro := a.Rollout
			for k, b := range ro.Records() {
				br := BatchResult{Attempt: a.ID, Index: k + 1, Size: b.Len(), Zone: b.Zone, UpdateDomain: b.UpdateDomain, StartTime: b.StartTime.Format(time.RFC3339)}
				if !b.EndTime.IsZero() {
					br.EndTime = b.EndTime.Format(time.RFC3339)
				}
				for pos := b.From; pos < b.To; pos++ {
					if len(br.Instances) == MaxListedBatchInstances {
						br.InstancesOmitted = b.Len() - MaxListedBatchInstances
						break
					}
					br.Instances = append(br.Instances, strconv.Itoa(ro.InstanceAt(pos)))
				}
				sr.Batches = append(sr.Batches, br)
			}
			for idx, o := range ro.Outcomes() {
				if o == plan.OutcomeRolledBack || o == plan.OutcomeRollbackFailed {
					rolledBack[idx] = true
				}
			}
		}
		if a := rec.Last(); a != nil {
			sr.Status, sr.ErrorCode = string(a.Rollout.Status()), a.Rollout.ErrorCode()
		}
	})
	if err != nil {
		return sr, fs, err
	}
	if sr.History, err = w.Orch.History(name); err != nil {
		return sr, fs, err
	}
	obs, err := w.Fleet.Observe(ctx, name)
	if err != nil {
		return sr, fs, fmt.Errorf("observe %s: %w", name, err)
	}
	var data []uint64
	if data, err = w.Fleet.DataDigests(ctx, name); err != nil {
		return sr, fs, fmt.Errorf("read data disks of %s: %w", name, err)
	}
	before := w.dataAt0[name]
	var fleetRolledBack map[int]bool
	if len(obs) <= MaxListedInstances {
		fs.Batches, fleetRolledBack = w.reimages.history(name, initialVersion)
	}
	// Sized once: grown by append, the two lists cost twice their size (at
	// 10^4 instances, most of the run's bytes).
	listed := min(len(obs), MaxListedInstances)
	if listed > 0 {
		sr.Instances, fs.Instances = make([]InstanceResult, 0, listed), make([]FinalInstance, 0, listed)
	}
	for i := range obs {
		in := &obs[i]
		sr.Versions[in.Version]++
		if i >= MaxListedInstances {
			sr.InstancesOmitted++
			fs.InstancesOmitted++
			continue
		}
		intact := before != nil && data != nil && i < len(before) && i < len(data) && before[i] == data[i]
		sr.Instances = append(sr.Instances, InstanceResult{ID: strconv.Itoa(in.ID), Zone: in.Zone, UpdateDomain: in.UpdateDomain, Version: in.Version, Health: in.Health.String(), ProvisioningState: in.Provisioning.String(), RolledBack: rolledBack[i], DataIntact: intact})
		fs.Instances = append(fs.Instances, FinalInstance{ID: in.ID, Version: in.Version, Health: in.Health.String(), ProvisioningState: in.Provisioning.String(), RolledBack: fleetRolledBack[in.ID], DataIntact: intact})
	}
	return sr, fs, nil
}

// check compares one set's result with its expectations, in a fixed order.
func check(set string, x scenario.Expect, sr SetResult, start, lastStart time.Time) []Expectation {
	var out []Expectation
	add := func(field string, expected, got any) {
		e, g := fmt.Sprint(expected), fmt.Sprint(got)
		out = append(out, Expectation{ScaleSet: set, Field: field, OK: e == g, Expected: e, Got: g})
	}
	last := func() *orchestrator.UpgradeHistory {
		if len(sr.History) == 0 {
			return nil
		}
		return &sr.History[0]
	}()
	var prog orchestrator.Progress
	var rb orchestrator.RollbackInfo
	startedBy := ""
	if last != nil {
		prog, rb, startedBy = last.Properties.Progress, last.Properties.RollbackInfo, last.Properties.StartedBy
	}
	lastAttempt := 0
	if len(sr.Batches) > 0 {
		lastAttempt = sr.Batches[len(sr.Batches)-1].Attempt
	}
	batches, maxBatch := 0, 0
	for _, b := range sr.Batches {
		if b.Attempt == lastAttempt {
			batches++
			maxBatch = max(maxBatch, b.Size)
		}
	}
	if x.Status != "" {
		add("status", x.Status, sr.Status)
	}
	if x.ErrorCode != nil {
		add("errorCode", *x.ErrorCode, sr.ErrorCode)
	}
	if x.MaxBatchSize != nil {
		add("maxBatchSize", *x.MaxBatchSize, maxBatch)
	}
	if x.Batches != nil {
		add("batches", *x.Batches, batches)
	}
	if x.Successful != nil {
		add("successful", *x.Successful, prog.SuccessfulInstanceCount)
	}
	if x.Failed != nil {
		add("failed", *x.Failed, prog.FailedInstanceCount)
	}
	if x.RolledBack != nil {
		add("rolledBack", *x.RolledBack, rb.SuccessfullyRolledbackInstanceCount)
	}
	if x.Versions != nil {
		add("versions", formatVersions(x.Versions), formatVersions(sr.Versions))
	}
	if x.Rollouts != nil {
		add("rollouts", *x.Rollouts, sr.Rollouts)
	}
	if x.StartedBy != "" {
		add("startedBy", x.StartedBy, startedBy)
	}
	if x.FirstBatch != nil {
		var first []string
		for _, b := range sr.Batches {
			if b.Attempt == lastAttempt && b.Index == 1 {
				first = b.Instances
			}
		}
		add("firstBatch", x.FirstBatch, first)
	}
	if x.DataIntact != nil {
		intact := len(sr.Instances) > 0
		for _, in := range sr.Instances {
			intact = intact && in.DataIntact
		}
		add("dataIntact", *x.DataIntact, intact)
	}
	if x.StartedAfter != nil || x.StartedBefore != nil {
		got := "no rollout"
		if !lastStart.IsZero() {
			got = scenario.FormatDuration(lastStart.Sub(start))
		}
		if x.StartedAfter != nil {
			ok := !lastStart.IsZero() && !lastStart.Before(start.Add(x.StartedAfter.Duration))
			out = append(out, Expectation{ScaleSet: set, Field: "startedAfter", OK: ok, Expected: ">= " + scenario.FormatDuration(x.StartedAfter.Duration), Got: got})
		}
		if x.StartedBefore != nil {
			ok := !lastStart.IsZero() && !lastStart.After(start.Add(x.StartedBefore.Duration))
			out = append(out, Expectation{ScaleSet: set, Field: "startedBefore", OK: ok, Expected: "<= " + scenario.FormatDuration(x.StartedBefore.Duration), Got: got})
		}
	}
	return out
}

func formatVersions(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	s := "{"
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", k, m[k])
	}
	return s + "}"
}

// mergeExpect lays a scale set's own expectations over the scenario's:
// every field the set gives (non-zero) replaces the scenario's.
func mergeExpect(base, over scenario.Expect) scenario.Expect {
	b, o := reflect.ValueOf(&base).Elem(), reflect.ValueOf(over)
	for i := range o.NumField() {
		if !o.Field(i).IsZero() {
			b.Field(i).Set(o.Field(i))
		}
	}
	return base
}

// regionPhases is each set's region phase (from 1; 0 for a region that is
// not supported) in the platform's rollout of its image over the regions
// of the sets with that image (R-AVAIL-2): what the reports group a large
// fleet by.
func regionPhases(sets []scenario.ScaleSet) []int {
	byRef := map[string][]string{} // image ref -> its sets' supported regions
	refs := make([]string, len(sets))
	for i, s := range sets {
		ref, err := orchestrator.ParseImageReference(s.Image)
		if err != nil {
			continue
		}
		refs[i] = ref.Ref()
		if r := or(s.Region, DefaultRegion); orchestrator.KnownRegion(r) && !slices.Contains(byRef[refs[i]], r) {
			byRef[refs[i]] = append(byRef[refs[i]], r)
		}
	}
	phaseOf := map[[2]string]int{} // (ref, region) -> phase
	for ref, regions := range byRef {
		phases, err := orchestrator.Phases(regions)
		if err != nil {
			continue
		}
		for k, ph := range phases {
			for _, r := range ph {
				phaseOf[[2]string{ref, r}] = k + 1
			}
		}
	}
	out := make([]int, len(sets))
	for i, s := range sets {
		out[i] = phaseOf[[2]string{refs[i], or(s.Region, DefaultRegion)}]
	}
	return out
}

package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Invariant is one invariant of SPEC.md checked on a run, in the result.
type Invariant struct {
	ID string `json:"id"`
	OK bool   `json:"ok"`
	// Detail says what was checked, or names the time, the instances and
	// the numbers of the first violations.
	Detail     string `json:"detail"`
	Violations int    `json:"violations,omitempty"`
}

// InvariantIDs are the invariants every run is checked against.
var InvariantIDs = []string{"I-1", "I-2", "I-3", "I-4", "I-5", "I-6", "I-7"}

// maxListed is how many violations of one invariant a detail lists.
const maxListed = 5

type violationLog struct {
	count int
	first []string
}

func (j *Journal) violate(id string, at time.Time, msg string) {
	v := j.violations[id]
	if v == nil {
		v = &violationLog{}
		j.violations[id] = v
	}
	v.count++
	if len(v.first) < maxListed {
		v.first = append(v.first, at.Format(time.RFC3339)+" "+msg)
	}
}

// checkInvariants evaluates I-1..I-7 at the end of a run. final and data are
// the fleet's last report and data-disk digests by set.
func (w *World) checkInvariants(ctx context.Context, final map[string][]plan.Instance, data map[string][]uint64) []Invariant {
	j := w.journal
	out := make([]Invariant, 0, len(InvariantIDs))
	for _, id := range InvariantIDs {
		out = append(out, Invariant{ID: id, OK: true})
	}
	at := func(id string) *Invariant { return &out[slices.Index(InvariantIDs, id)] }
	if j == nil {
		for i := range out {
			out[i].OK = false
			out[i].Detail = fmt.Sprintf("not checked: the %s fleet offers no fleet-side journal (no event source)", w.FleetName)
		}
		return out
	}
	now := w.Clock.Now()
	var sums [7][]string
	for _, s := range j.order {
		sums[0] = append(sums[0], fmt.Sprintf("%s: at most %d upgrading at once, %d allowed", s.name, s.maxFlight, s.maxBatch))
		sums[1] = append(sums[1], fmt.Sprintf("%s: %d batch starts checked (R-PRE-1 %d, R-STOP-2 %d, R-STOP-1 %d)", s.name, s.checks[0]+s.checks[1], s.checks[0], s.checks[1], s.checks[2]))
		sums[4] = append(sums[4], fmt.Sprintf("%s: %d batches, each in one zone and update domain", s.name, s.batches))
		w.checkFinal(s, final[s.name], now)
		w.checkData(s, data[s.name])
		w.checkHistory(s)
	}
	sums[4] = append(sums[4], j.regionSummary())
	sums[2] = []string{"every instance on its target or previous version, failed upgrades rolled back where R-ROLLBACK-1 applies"}
	sums[3] = []string{"every data disk's digest unchanged since time 0"}
	sums[5] = []string{"history progress and rollback counts within the fleet's bounds"}
	if m := w.checkMetrics(now); m != "" {
		sums[5] = append(sums[5], m)
	}
	sums[6] = []string{w.checkForeign(ctx)}
	for k, id := range InvariantIDs {
		inv := at(id)
		if v := j.violations[id]; v != nil && v.count > 0 {
			inv.OK = false
			inv.Violations = v.count
			inv.Detail = strings.Join(v.first, "; ")
			if v.count > len(v.first) {
				inv.Detail += fmt.Sprintf("; and %d more", v.count-len(v.first))
			}
			continue
		}
		inv.Detail = strings.Join(sums[k], "; ")
	}
	return out
}

// checkFinal is I-3: every instance still there, on the target of the last
// rollout or the version it ran before it; where automatic rollback applies
// (R-ROLLBACK-1), none is left on the target without ever becoming healthy.
func (w *World) checkFinal(s *setJournal, obs []plan.Instance, now time.Time) {
	j := w.journal
	if len(obs) != len(s.inst) {
		j.violate("I-3", now, fmt.Sprintf("%s: the fleet reports %d instances, %d were created: %d lost", s.name, len(obs), len(s.inst), len(s.inst)-len(obs)))
		return
	}
	rollback := w.rollbackApplies(s.name)
	injected := w.ctl.failedIDs(s.name)
	var wrong, stuck []int
	for i := range obs {
		in := &s.inst[i]
		got := obs[i].Version
		allowed := got == s.versions[in.cur]
		if in.flags&fUpgraded != 0 {
			allowed = got == s.versions[in.prev] || (s.target >= 0 && got == s.versions[s.target])
		}
		if !allowed {
			wrong = append(wrong, i)
			continue
		}
		healthy := healthyOn(&obs[i], got, s.mode)
		if rollback && in.flags&fUpgraded != 0 && s.target >= 0 && got == s.versions[s.target] && in.flags&(fSucceeded|fSucceededLate) == 0 && !healthy && in.flags&fInflight == 0 && !injected[i] {
			stuck = append(stuck, i)
		}
	}
	if len(wrong) > 0 {
		i := wrong[0]
		j.violate("I-3", now, fmt.Sprintf("%s: %d instances on neither their target nor their previous version (instances %s; instance %d runs %s)", s.name, len(wrong), listIDs(wrong), i, obs[i].Version))
	}
	if len(stuck) > 0 {
		j.violate("I-3", now, fmt.Sprintf("%s: %d instances left on %s without ever becoming healthy on it, not rolled back although automatic rollback applies (R-ROLLBACK-1): instances %s", s.name, len(stuck), s.versions[s.target], listIDs(stuck)))
	}
}

// rollbackApplies: the last rollout of the set was automatic and the model
// does not disable rollback (R-ROLLBACK-1, R-TRIG-3).
func (w *World) rollbackApplies(set string) bool {
	ok := false
	_ = w.Orch.View(set, func(rec *orchestrator.SetRecord) {
		if a := rec.Last(); a != nil {
			ok = !a.Rollout.Manual() && !rec.Model.DisableAutomaticRollback
		}
	})
	return ok
}

// checkData is I-4: data disks byte for byte (by digest) since time 0.
func (w *World) checkData(s *setJournal, data []uint64) {
	j := w.journal
	before, ok := w.dataAt0[s.name]
	now := w.Clock.Now()
	if !ok || data == nil {
		j.violate("I-4", now, fmt.Sprintf("%s: not checked: the %s fleet cannot read data disks", s.name, w.FleetName))
		return
	}
	var changed []int
	for i := range min(len(before), len(data)) {
		if before[i] != data[i] {
			changed = append(changed, i)
		}
	}
	if len(changed) > 0 {
		i := changed[0]
		j.violate("I-4", now, fmt.Sprintf("%s: %d data disks changed (instances %s; instance %d digest %016x, was %016x)", s.name, len(changed), listIDs(changed), i, data[i], before[i]))
	}
}

// checkHistory is I-6: the last rollout's history entry against what the
// fleet did since it began. Bounds, not equalities, where the fleet cannot
// see what the planner saw: an instance healthy after its 5-minute wait
// counts as succeeded for a planner that observed it late, and a reimage
// the harness made fail never reached the fleet.
func (w *World) checkHistory(s *setJournal) {
	j := w.journal
	hist, err := w.Orch.History(s.name)
	now := w.Clock.Now()
	if err != nil || len(hist) == 0 {
		return
	}
	planned := false
	_ = w.Orch.View(s.name, func(rec *orchestrator.SetRecord) {
		if a := rec.Last(); a != nil {
			planned = a.Rollout.Planned() && a.Rollout.Status().Terminal()
		}
	})
	if !planned || s.epochs == 0 {
		return
	}
	var up, sStrict, sLate, rStrict, rLate, same int
	for i := range s.inst {
		f := s.inst[i].flags
		if f&fUpgraded != 0 {
			up++
			if f&fSeenSucceeded != 0 {
				sStrict++
			}
			if f&(fSucceeded|fSucceededLate) != 0 {
				sLate++
			}
			if f&fSeenRolledBack != 0 {
				rStrict++
			}
			if f&(fRolledBack|fRolledBackLate) != 0 {
				rLate++
			}
		}
		if f&fTouchedSame != 0 && f&fUpgraded == 0 {
			same++
		}
	}
	inj := w.ctl.failures(s.name)
	p := hist[0].Properties
	ok, failed, rb := p.Progress.SuccessfulInstanceCount, p.Progress.FailedInstanceCount, p.RollbackInfo.SuccessfullyRolledbackInstanceCount
	var bad []string
	if ok < sStrict || ok > sLate {
		bad = append(bad, fmt.Sprintf("successfulInstanceCount %d, the fleet shows %d to %d instances healthy on %s", ok, sStrict, sLate, p.TargetImageReference.Version))
	}
	if failed < up-sLate || failed > up-sStrict+same+inj {
		bad = append(bad, fmt.Sprintf("failedInstanceCount %d, the fleet shows %d to %d (%d upgraded, %d healthy, %d re-provisioned on their own version, %d reimages made to fail)", failed, up-sLate, up-sStrict+same+inj, up, sStrict, same, inj))
	}
	if rb < rStrict || rb > rLate+same {
		bad = append(bad, fmt.Sprintf("successfullyRolledbackInstanceCount %d, the fleet shows %d to %d instances back and healthy on their previous version", rb, rStrict, rLate+same))
	}
	if len(bad) > 0 {
		j.violate("I-6", now, fmt.Sprintf("%s: the history of the rollout started %s disagrees with the fleet: %s", s.name, s.epochStart.Format(time.RFC3339), strings.Join(bad, "; ")))
	}
}

// checkForeign is I-7.
func (w *World) checkForeign(ctx context.Context) string {
	j := w.journal
	now := w.Clock.Now()
	if inv, ok := w.Fleet.(backend.Inventory); ok {
		after, err := inv.Foreign(ctx)
		if err != nil {
			j.violate("I-7", now, fmt.Sprintf("not checked: listing what the run did not create failed: %v", err))
			return ""
		}
		// Only what existed before the run can have been touched by it: a
		// foreign object removed or changed is a violation; one that appeared
		// is someone else's new work (everything osupgrade creates carries
		// its labels), noted but not counted.
		gone, changed, added := diffObjects(w.foreignAt0, after)
		gone, goneElse := splitAddressed(inv, gone)
		changed, changedElse := splitAddressed(inv, changed)
		if len(gone) > 0 || len(changed) > 0 {
			j.violate("I-7", now, fmt.Sprintf("objects the run did not create were touched: %d removed (%s), %d changed (%s)", len(gone), strings.Join(head(gone, maxListed), ", "), len(changed), strings.Join(head(changed, maxListed), ", ")))
		}
		note := ""
		if len(added) > 0 {
			note = fmt.Sprintf("; %d appeared meanwhile, not osupgrade's (they carry no osupgrade label)", len(added))
		}
		if n := len(goneElse) + len(changedElse); n > 0 {
			note += fmt.Sprintf("; %d removed or changed meanwhile by someone else (the run's engine client never addressed them: %s)", n, strings.Join(head(append(goneElse, changedElse...), maxListed), ", "))
		}
		return fmt.Sprintf("%d objects the run did not create, none touched%s", len(w.foreignAt0), note)
	}
	if sl, ok := w.Fleet.(backend.SetLister); ok {
		var want []string
		for _, s := range w.journal.order {
			want = append(want, s.name)
		}
		slices.Sort(want)
		got := sl.Sets()
		if !slices.Equal(want, got) {
			j.violate("I-7", now, fmt.Sprintf("the fleet holds scale sets %v, the run created %v", got, want))
		}
		return fmt.Sprintf("the fleet holds exactly the %d scale sets the run created", len(got))
	}
	j.violate("I-7", now, fmt.Sprintf("not checked: the %s fleet cannot list what it did not create", w.FleetName))
	return ""
}

// splitAddressed separates the lines of objects the fleet's engine client
// addressed from the others (changed lines "before -> after" are matched by
// their before part).
func splitAddressed(inv backend.Inventory, lines []string) (addressed, others []string) {
	for _, l := range lines {
		before, _, _ := strings.Cut(l, " -> ")
		if inv.Addressed(before) {
			addressed = append(addressed, l)
		} else {
			others = append(others, l)
		}
	}
	return addressed, others
}

// diffObjects compares two Foreign listings ("kind id rest…") by object:
// gone from before, changed (same object, other state), added.
func diffObjects(before, after []string) (gone, changed, added []string) {
	key := func(s string) string {
		f := strings.Fields(s)
		if len(f) < 2 {
			return s
		}
		return f[0] + " " + f[1]
	}
	am := map[string]string{}
	for _, a := range after {
		am[key(a)] = a
	}
	bm := map[string]bool{}
	for _, b := range before {
		bm[key(b)] = true
		switch a, ok := am[key(b)]; {
		case !ok:
			gone = append(gone, b)
		case a != b:
			changed = append(changed, b+" -> "+a)
		}
	}
	for _, a := range after {
		if !bm[key(a)] {
			added = append(added, a)
		}
	}
	return gone, changed, added
}

func head(s []string, n int) []string { return s[:min(len(s), n)] }

func listIDs(ids []int) string {
	var b strings.Builder
	for k, id := range ids {
		if k == maxListed {
			fmt.Fprintf(&b, ", … %d more", len(ids)-maxListed)
			break
		}
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// JournalSummary is the journal as a result carries it.
type JournalSummary struct {
	Events        []JournalEvent `json:"events"`
	EventsOmitted int            `json:"eventsOmitted,omitempty"`
	Restarts      int            `json:"orchestratorRestarts,omitempty"`
	InjectedErrs  int            `json:"injectedReimageErrors,omitempty"`
}

// addInvariants closes the journal, checks I-1..I-7 and folds them into
// the result's verdict.
func (w *World) addInvariants(ctx context.Context, r *Result) error {
	final := map[string][]plan.Instance{}
	data := map[string][]uint64{}
	if w.journal != nil {
		for _, s := range w.journal.order {
			obs, err := w.Fleet.Observe(ctx, s.name)
			if err != nil {
				return fmt.Errorf("observe %s for the invariants: %w", s.name, err)
			}
			final[s.name] = obs
			d, err := w.Fleet.DataDigests(ctx, s.name)
			if err != nil {
				return fmt.Errorf("read data disks of %s: %w", s.name, err)
			}
			data[s.name] = d
		}
	}
	unlock := w.lockJournal()
	defer unlock()
	if w.journal != nil {
		w.journal.Finish(w.Clock.Now())
	}
	r.Invariants = w.checkInvariants(ctx, final, data)
	for _, inv := range r.Invariants {
		r.OK = r.OK && inv.OK
	}
	if j := w.journal; j != nil {
		inj := 0
		for _, n := range w.ctl.failed {
			inj += n
		}
		r.Journal = &JournalSummary{Events: j.Events, EventsOmitted: j.EventsDropped, Restarts: w.restarts, InjectedErrs: inj}
	}
	return nil
}

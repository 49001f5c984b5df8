package reports

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/osupgrade/osupgrade/harness"
)

// MaxListedSets is the most scale sets a run's summary tables list one by
// one (`osupgrade run`'s table, NAME.md / NAME.html, summary.md and
// index.html). A run of more sets gets one row per region instead, in the
// order of the platform's region phases (R-AVAIL-2), each row counting
// its sets by status; the scenario page then draws the timelines of at
// most MaxListedSets sets. The result JSON always lists every set.
const MaxListedSets = 50

// SetRow is one row of a run's summary table: one scale set, or, in a run
// of more than MaxListedSets sets, every set of one region.
type SetRow struct {
	// Set is the set's name, or for a region's row "REGION (N sets)".
	Set string
	// Sets is how many sets the row stands for; Region and Phase are
	// theirs ("" and 0 when the result does not say).
	Sets   int
	Region string
	Phase  int
	// Status is the set's status, with its error code; for a region's row
	// how many sets ended in each ("Completed 330, Faulted 3").
	Status string
	// Failing is true when an expectation the row counts failed.
	Failing bool
	// Batches, Upgraded, Failed and RolledBack are of each set's latest
	// rollout, summed over a region's sets.
	Batches, Upgraded, Failed, RolledBack int
	// Versions counts the instances by the version they run at the end.
	Versions map[string]int
	// ExpectHeld and ExpectTotal count the row's sets' expectations plus
	// the scenario's own (ones that name no set).
	ExpectHeld, ExpectTotal int
	// Timeline is the set whose timeline the scenario page draws for the
	// row: the set itself, or the region's set that finished last.
	Timeline string
}

// Aggregated reports whether r's tables have one row per region.
func Aggregated(r *harness.Result) bool { return len(r.ScaleSets) > MaxListedSets }

// SummaryRows are the rows of r's summary table: one per set, or one per
// region beyond MaxListedSets sets. It reads every set and expectation
// once (a run of 10,000 sets is summarised in time linear in its size).
func SummaryRows(r *harness.Result) []SetRow {
	type tally struct{ held, total int }
	bySet := map[string]tally{}
	var scenarioWide tally
	for _, e := range r.Expectations {
		t := bySet[e.ScaleSet]
		if e.ScaleSet == "" {
			t = scenarioWide
		}
		t.total++
		if e.OK {
			t.held++
		}
		if e.ScaleSet == "" {
			scenarioWide = t
		} else {
			bySet[e.ScaleSet] = t
		}
	}
	rows := make([]SetRow, 0, min(len(r.ScaleSets), MaxListedSets+1))
	type regionTally struct {
		statuses map[string]int
		lastEnd  string // of the row's Timeline set
	}
	var regions []regionTally
	index := map[string]int{} // region -> its row, when aggregated
	aggregated := Aggregated(r)
	for i := range r.ScaleSets {
		s := &r.ScaleSets[i]
		one := setRow(s)
		t := bySet[s.Name]
		one.ExpectHeld, one.ExpectTotal = t.held, t.total
		one.Failing = one.Failing || t.held != t.total
		if !aggregated {
			one.ExpectHeld += scenarioWide.held
			one.ExpectTotal += scenarioWide.total
			one.Failing = one.Failing || scenarioWide.held != scenarioWide.total
			rows = append(rows, one)
			continue
		}
		k, ok := index[s.Region]
		if !ok {
			k = len(rows)
			index[s.Region] = k
			rows = append(rows, SetRow{Region: s.Region, Phase: s.Phase, Versions: map[string]int{}, Timeline: s.Name, ExpectHeld: scenarioWide.held, ExpectTotal: scenarioWide.total, Failing: scenarioWide.held != scenarioWide.total})
			regions = append(regions, regionTally{statuses: map[string]int{}, lastEnd: lastEnd(s)})
		}
		row, tally := &rows[k], &regions[k]
		row.Sets++
		row.Batches += one.Batches
		row.Upgraded += one.Upgraded
		row.Failed += one.Failed
		row.RolledBack += one.RolledBack
		row.ExpectHeld += one.ExpectHeld
		row.ExpectTotal += one.ExpectTotal
		row.Failing = row.Failing || one.Failing
		for v, n := range s.Versions {
			row.Versions[v] += n
		}
		if end := lastEnd(s); end > tally.lastEnd {
			row.Timeline, tally.lastEnd = s.Name, end
		}
		tally.statuses[one.Status]++
	}
	if aggregated {
		for i := range rows {
			rows[i].Set = fmt.Sprintf("%s (%d sets)", orDash(rows[i].Region), rows[i].Sets)
			rows[i].Status = countedStatus(regions[i].statuses)
		}
		slices.SortStableFunc(rows, func(a, b SetRow) int {
			return cmp.Or(cmp.Compare(phaseKey(a.Phase), phaseKey(b.Phase)), cmp.Compare(a.Region, b.Region))
		})
	}
	return rows
}

// setRow is one set's row, but for its expectations.
func setRow(s *harness.SetResult) SetRow {
	row := SetRow{Set: s.Name, Sets: 1, Region: s.Region, Phase: s.Phase, Versions: s.Versions, Timeline: s.Name}
	if len(s.History) > 0 {
		p := s.History[0].Properties
		row.Upgraded, row.Failed, row.RolledBack = p.Progress.SuccessfulInstanceCount, p.Progress.FailedInstanceCount, p.RollbackInfo.SuccessfullyRolledbackInstanceCount
	}
	row.Batches = lastAttemptBatches(s.Batches)
	row.Status = statusOf(s)
	return row
}

func statusOf(s *harness.SetResult) string {
	if s.ErrorCode == "" {
		return s.Status
	}
	return s.Status + " (" + s.ErrorCode + ")"
}

// countedStatus is how many of a region's sets ended in each status.
func countedStatus(counts map[string]int) string {
	keys := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// phaseKey puts unknown phases (0) last.
func phaseKey(p int) int {
	if p == 0 {
		return int(^uint(0) >> 1)
	}
	return p
}

// lastEnd is when the set's last batch ended ("" when none did): RFC 3339
// in UTC, so that strings compare as times.
func lastEnd(s *harness.SetResult) string {
	if s == nil || len(s.Batches) == 0 {
		return ""
	}
	return s.Batches[len(s.Batches)-1].EndTime
}

// lastAttemptBatches is len(lastAttempt(bs)), without the copy.
func lastAttemptBatches(bs []harness.BatchResult) int {
	if len(bs) == 0 {
		return 0
	}
	n, a := 0, bs[len(bs)-1].Attempt
	for i := range bs {
		if bs[i].Attempt == a {
			n++
		}
	}
	return n
}

package reports

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Timeline geometry, in SVG user units.
const (
	tlWidth  = 1100.0
	tlLeft   = 150.0 // lane labels
	tlRight  = 45.0  // half the widest time label
	tlTop    = 34.0  // the least room above the lanes, for fault labels
	laneH    = 18.0
	healthH  = 150.0
	axisH    = 28.0
	gapH     = 26.0
	gatePct  = 20.0
	maxLanes = 60
	// faultLabelRoom is the width a fault's label may take right of its line.
	faultLabelRoom = 150.0
	// Fault labels stack in rows so that none runs into another; a label
	// is estimated at faultCharW a character.
	faultRowH    = 13.0
	faultCharW   = 7.0
	maxFaultRows = 8
)

var attemptColours = []string{"#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"}

// healthPoint is the derived health at one instant.
type healthPoint struct {
	t         time.Time
	setShare  float64 // healthy share of the set, %
	upgShare  float64 // unhealthy share of finished upgraded instances, %
	hasUpgrad bool
}

// derivedHealth reconstructs health over time from the batch records:
// members of a batch in progress count as not healthy (being reimaged);
// members of a finished batch count as their final health (a rolled-back or
// unhealthy instance stays unhealthy). It is what the gates saw at batch
// boundaries, not a probe trace.
func derivedHealth(s harness.SetResult, end time.Time) []healthPoint {
	total := 0
	for _, n := range s.Versions {
		total += n
	}
	if total == 0 || len(s.Batches) == 0 {
		return nil
	}
	final := map[string]harness.InstanceResult{}
	for _, in := range s.Instances {
		final[in.ID] = in
	}
	type change struct {
		t                        time.Time
		inProgress, bad, upgrade float64
	}
	var cs []change
	for _, b := range s.Batches {
		st, ok := parseTime(b.StartTime)
		if !ok {
			continue
		}
		size := float64(b.Size)
		cs = append(cs, change{t: st, inProgress: size})
		et, ok := parseTime(b.EndTime)
		if !ok {
			continue
		}
		known, bad := 0, 0
		for _, id := range b.Instances {
			if in, ok := final[id]; ok {
				known++
				if in.Health != "Healthy" || in.RolledBack {
					bad++
				}
			}
		}
		failed := 0.0
		if known > 0 {
			failed = size * float64(bad) / float64(known)
		}
		cs = append(cs, change{t: et, inProgress: -size, bad: failed, upgrade: size})
	}
	slices.SortStableFunc(cs, func(a, b change) int { return a.t.Compare(b.t) })
	var pts []healthPoint
	var inProgress, bad, upgraded float64
	for i, c := range cs {
		inProgress += c.inProgress
		bad += c.bad
		upgraded += c.upgrade
		if i+1 < len(cs) && cs[i+1].t.Equal(c.t) {
			continue
		}
		p := healthPoint{t: c.t, setShare: 100 * math.Max(0, float64(total)-inProgress-bad) / float64(total)}
		if upgraded > 0 {
			p.upgShare, p.hasUpgrad = 100*bad/upgraded, true
		}
		pts = append(pts, p)
	}
	if len(pts) > 0 && end.After(pts[len(pts)-1].t) {
		last := pts[len(pts)-1]
		last.t = end
		pts = append(pts, last)
	}
	return pts
}

// journalHealth computes health over time from the fleet-side journal of
// the result: every instance starts healthy (scenarios create sets healthy),
// then each "state" event sets an instance's report. ok is false when the
// journal is absent or lists only part of the run's events.
func journalHealth(r *harness.Result, s harness.SetResult) (pts []healthPoint, ok bool) {
	j := r.Journal
	if j == nil || j.EventsOmitted > 0 {
		return nil, false
	}
	total := 0
	for _, n := range s.Versions {
		total += n
	}
	if total == 0 {
		return nil, false
	}
	unhealthy := map[int]bool{}
	reimaged := map[int]bool{}
	for i, e := range j.Events {
		if e.Set != s.Name {
			continue
		}
		switch e.Event {
		case "reimage":
			reimaged[e.Instance] = true
		case "state":
			bad := !e.Running || e.Provisioning != "Succeeded" || e.Health != "Healthy"
			if bad {
				unhealthy[e.Instance] = true
			} else {
				delete(unhealthy, e.Instance)
			}
		default:
			continue
		}
		if i+1 < len(j.Events) && j.Events[i+1].Time.Equal(e.Time) {
			continue
		}
		p := healthPoint{t: e.Time, setShare: 100 * float64(total-len(unhealthy)) / float64(total)}
		if len(reimaged) > 0 {
			bad := 0
			for id := range reimaged {
				if unhealthy[id] {
					bad++
				}
			}
			p.upgShare, p.hasUpgrad = 100*float64(bad)/float64(len(reimaged)), true
		}
		pts = append(pts, p)
	}
	return pts, true
}

// timelineSVG draws one scale set's rollout: batches per zone and update
// domain, faults and rollbacks, and the derived health with the 20% gates.
func timelineSVG(run *Run, s harness.SetResult) (template.HTML, string) {
	r := run.Result
	start := r.Start
	scenarioEnd := start
	if d, err := time.ParseDuration(r.ScenarioDuration); err == nil {
		scenarioEnd = start.Add(d)
	}
	// The window: everything that happened to this set, padded.
	var lo, hi time.Time
	see := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if hi.IsZero() || t.After(hi) {
			hi = t
		}
	}
	for _, b := range s.Batches {
		if t, ok := parseTime(b.StartTime); ok {
			see(t)
		}
		if t, ok := parseTime(b.EndTime); ok {
			see(t)
		} else {
			see(scenarioEnd)
		}
	}
	var faults []FaultMark
	for _, f := range run.Faults {
		if f.Fired && (f.Set == "" || f.Set == s.Name) {
			faults = append(faults, f)
			see(start.Add(f.At))
			if f.Duration > 0 && !start.Add(f.At+f.Duration).After(scenarioEnd) {
				see(start.Add(f.At + f.Duration))
			}
		}
	}
	var rollbacks []time.Time
	for _, e := range r.Events {
		if e.Set == s.Name && strings.HasPrefix(e.Event, "rollback started") {
			if t, ok := parseTime(e.Time); ok {
				rollbacks = append(rollbacks, t)
				see(t)
			}
		}
	}
	if lo.IsZero() {
		return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="40" role="img" aria-label="no rollout"><text x="10" y="24" font-family="sans-serif" font-size="13">%s: no batch started (%s)</text></svg>`, tlWidth, template.HTMLEscapeString(s.Name), template.HTMLEscapeString(s.Status))), "No rollout of " + s.Name + "."
	}
	span := hi.Sub(lo)
	if span <= 0 {
		span = time.Minute
	}
	pad := span / 40
	// Padded, but not to before the scenario began: no negative times.
	if lo.Add(-pad).Before(start) && !lo.Before(start) {
		lo = start
	} else {
		lo = lo.Add(-pad)
	}
	hi = hi.Add(pad)
	span = hi.Sub(lo)
	plotW := tlWidth - tlLeft - tlRight
	x := func(t time.Time) float64 {
		return tlLeft + plotW*float64(t.Sub(lo))/float64(span)
	}

	// Lanes in the order batches first used them.
	type lane struct {
		zone string
		ud   int
	}
	var lanes []lane
	laneOf := map[lane]int{}
	for _, b := range s.Batches {
		l := lane{b.Zone, b.UpdateDomain}
		if _, ok := laneOf[l]; !ok && len(lanes) < maxLanes {
			laneOf[l] = len(lanes)
			lanes = append(lanes, l)
		}
	}
	labels, rows := placeFaultLabels(faults, func(f FaultMark) float64 { return x(start.Add(f.At)) })
	lanesTop := math.Max(tlTop, 8+faultRowH*float64(rows)+6)
	lanesH := laneH * float64(len(lanes))
	healthTop := lanesTop + lanesH + gapH
	axisTop := healthTop + healthH
	height := axisTop + axisH

	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="sans-serif" role="img" aria-label="rollout timeline of %s">`, tlWidth, height, tlWidth, height, esc(s.Name))
	fmt.Fprintf(&b, `<title>Rollout timeline of %s</title>`, esc(s.Name))
	// Lanes and batches.
	for i, l := range lanes {
		y := lanesTop + laneH*float64(i)
		name := fmt.Sprintf("UD %d", l.ud)
		if l.zone != "" {
			name = fmt.Sprintf("zone %s · UD %d", l.zone, l.ud)
		}
		fmt.Fprintf(&b, `<rect class="lane" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, tlLeft, y, plotW, laneH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, tlLeft-6, y+laneH-5, esc(name))
	}
	hy := func(pct float64) float64 { return healthTop + healthH*(1-pct/100) }
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" stroke="#ccc"/>`, tlLeft, healthTop, plotW, healthH)
	// Fault spans over the backgrounds, under the batches and lines.
	for _, f := range faults {
		fx := x(start.Add(f.At))
		if f.Duration > 0 {
			fe := math.Min(x(start.Add(f.At+f.Duration)), tlWidth-tlRight)
			fmt.Fprintf(&b, `<rect class="fault-span" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#E69F00" fill-opacity="0.12"/>`, fx, lanesTop, math.Max(1, fe-fx), axisTop-lanesTop)
		}
	}
	attempts := map[int]int{}
	for _, bt := range s.Batches {
		li, ok := laneOf[lane{bt.Zone, bt.UpdateDomain}]
		st, ok2 := parseTime(bt.StartTime)
		if !ok || !ok2 {
			continue
		}
		if _, seen := attempts[bt.Attempt]; !seen {
			attempts[bt.Attempt] = len(attempts)
		}
		col := attemptColours[attempts[bt.Attempt]%len(attemptColours)]
		et, done := parseTime(bt.EndTime)
		if !done {
			et = hi
		}
		x0, x1 := x(st), x(et)
		y := lanesTop + laneH*float64(li)
		opacity := "1"
		if !done {
			opacity = "0.45"
		}
		fmt.Fprintf(&b, `<rect class="batch" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%s"><title>attempt %d, batch %d: %d instances, zone %q, UD %d, %s – %s</title></rect>`,
			x0, y+2, math.Max(1.5, x1-x0), laneH-4, col, opacity, bt.Attempt, bt.Index, bt.Size, bt.Zone, bt.UpdateDomain, rel(st, start), relOrRunning(bt.EndTime, start))
		if label := fmt.Sprintf("#%d · %d", bt.Index, bt.Size); x1-x0 > 7*float64(len(label)) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#fff" style="fill:#fff">%s</text>`, x0+4, y+laneH-5, esc(label))
		}
	}
	// Health panel.
	for _, p := range []float64{0, 50, 100} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f%%</text>`, tlLeft-6, hy(p)+4, p)
	}
	fmt.Fprintf(&b, `<line class="gate" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#0072B2" stroke-dasharray="6 4"/>`, tlLeft, tlLeft+plotW, hy(100-gatePct), hy(100-gatePct))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#0072B2" style="fill:#0072B2" text-anchor="end">set: 20%% unhealthy gate</text>`, tlLeft+plotW-4, hy(100-gatePct)-4)
	fmt.Fprintf(&b, `<line class="gate" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#D55E00" stroke-dasharray="2 3"/>`, tlLeft, tlLeft+plotW, hy(gatePct), hy(gatePct))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#D55E00" style="fill:#D55E00" text-anchor="end">upgraded: 20%% unhealthy gate</text>`, tlLeft+plotW-4, hy(gatePct)-4)
	pts, fromJournal := journalHealth(r, s)
	if fromJournal && len(pts) > 0 {
		last := pts[len(pts)-1]
		last.t = hi
		pts = append(pts, last)
	} else {
		pts = derivedHealth(s, hi)
	}
	if len(pts) > 0 {
		var setPath, upgPath strings.Builder
		prevSet := 100.0
		fmt.Fprintf(&setPath, "M%.1f %.1f", x(lo), hy(100))
		for _, p := range pts {
			fmt.Fprintf(&setPath, " L%.1f %.1f L%.1f %.1f", x(p.t), hy(prevSet), x(p.t), hy(p.setShare))
			prevSet = p.setShare
		}
		prevUpg, started := 0.0, false
		for _, p := range pts {
			if !p.hasUpgrad {
				continue
			}
			if !started {
				fmt.Fprintf(&upgPath, "M%.1f %.1f", x(p.t), hy(p.upgShare))
				started = true
			} else {
				fmt.Fprintf(&upgPath, " L%.1f %.1f L%.1f %.1f", x(p.t), hy(prevUpg), x(p.t), hy(p.upgShare))
			}
			prevUpg = p.upgShare
		}
		fmt.Fprintf(&b, `<path class="healthy-share" d="%s" fill="none" stroke="#0072B2" stroke-width="2"/>`, setPath.String())
		if started {
			fmt.Fprintf(&b, `<path class="upgraded-unhealthy" d="%s" fill="none" stroke="#D55E00" stroke-width="2"/>`, upgPath.String())
		}
	}
	// Above the panel, where no line runs.
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">healthy share of the set (blue) · unhealthy share of reimaged instances (orange)</text>`, tlLeft, healthTop-8)
	// Faults and rollbacks on top.
	for i, f := range faults {
		fx := x(start.Add(f.At))
		tip := fmt.Sprintf("%s %s, %s, for %s", esc(f.Fault), esc(f.When), esc(f.Target), esc(durOrDash(f.Duration)))
		fmt.Fprintf(&b, `<line class="fault" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#E69F00" stroke-width="1.5" stroke-dasharray="4 2"><title>%s</title></line>`, fx, fx, 8.0, axisTop, tip)
		if l := labels[i]; l.row >= 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="#a05a00" style="fill:#a05a00">⚡ %s<title>%s</title></text>`, l.x, 8+faultRowH*float64(l.row+1)-3, l.anchor, esc(f.Fault), tip)
		}
	}
	for _, t := range rollbacks {
		rx := x(t)
		fmt.Fprintf(&b, `<path class="rollback" d="M%.1f %.1f l-5 -8 h10 z" fill="#b00020"><title>rollback started at %s</title></path>`, rx, lanesTop, rel(t, start))
	}
	// Time axis, relative to the scenario start.
	ticks := 6
	for i := 0; i <= ticks; i++ {
		t := lo.Add(time.Duration(float64(span) * float64(i) / float64(ticks)))
		tx := x(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#999"/>`, tx, tx, axisTop, axisTop+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, tx, axisTop+18, rel(t, start))
	}
	b.WriteString(`</svg>`)
	source := "the fleet-side journal (every instance's reported state; healthy = running, provisioned and reporting Healthy)"
	if !fromJournal {
		source = "the batch records, as the journal is absent or truncated: members of a batch in progress count as not healthy, members of a finished batch as their final health"
	}
	caption := fmt.Sprintf("%s: %d batches in %d zone/update-domain lanes, attempts coloured; %d fault(s) (⚡, shaded while on), %d rollback(s) (▼). Health over time from %s. Time from the scenario start.", s.Name, len(s.Batches), len(lanes), len(faults), len(rollbacks), source)
	if len(laneOf) == maxLanes {
		caption += fmt.Sprintf(" Only the first %d lanes are drawn.", maxLanes)
	}
	return template.HTML(b.String()), caption
}

// faultLabel is where a fault's label goes: row -1 when there was no room.
type faultLabel struct {
	x      float64
	anchor string
	row    int
}

// placeFaultLabels puts each fault's label beside its line (ending at the
// line near the right edge) in the first row, from the top, where it does
// not run into a label already there; it returns the labels and how many
// rows they take.
func placeFaultLabels(faults []FaultMark, xOf func(FaultMark) float64) ([]faultLabel, int) {
	labels := make([]faultLabel, len(faults))
	order := make([]int, len(faults))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(xOf(faults[a]), xOf(faults[b])) })
	var rowEnd []float64 // the right end of each row's last label
	for _, i := range order {
		fx := xOf(faults[i])
		w := faultCharW*float64(utf8.RuneCountInString("⚡ "+faults[i].Fault)) + 4
		l := faultLabel{x: fx + 2, anchor: "start", row: -1}
		x0, x1 := fx+2, fx+2+w
		if fx > tlWidth-tlRight-faultLabelRoom {
			l.x, l.anchor, x0, x1 = fx-2, "end", fx-2-w, fx-2
		}
		for r, end := range rowEnd {
			if end < x0 {
				l.row, rowEnd[r] = r, x1
				break
			}
		}
		if l.row < 0 && len(rowEnd) < maxFaultRows {
			l.row = len(rowEnd)
			rowEnd = append(rowEnd, x1)
		}
		labels[i] = l
	}
	return labels, len(rowEnd)
}

// rel is t as an offset from the scenario start: "+8m45s".
func rel(t, start time.Time) string {
	d := t.Sub(start).Round(time.Second)
	if d < 0 {
		return "-" + scenario.FormatDuration(-d)
	}
	return "+" + scenario.FormatDuration(d)
}

func relOrRunning(s string, start time.Time) string {
	if t, ok := parseTime(s); ok {
		return rel(t, start)
	}
	return "still running"
}

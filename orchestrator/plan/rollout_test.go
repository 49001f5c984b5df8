package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// tfleet is a scripted fleet for planner tests: a reimaged instance boots
// after bootTime (per instance override in boot) and is then healthy unless
// its version or the instance is scripted otherwise.
type tfleet struct {
	ins      []Instance
	readyAt  map[int]time.Time
	bootTime time.Duration
	boot     map[int]time.Duration // per-instance boot time after a reimage to the target
	target   string
	badVer   map[string]bool // never healthy on this version
	failExt  map[string]bool // extensions fail on this version (R-CRED-1)
}

func newTFleet(n int, zones []string) *tfleet {
	return &tfleet{ins: fleet(n, zones, 5, "v1"), readyAt: map[int]time.Time{}, bootTime: 30 * time.Second,
		boot: map[int]time.Duration{}, target: "v2", badVer: map[string]bool{}, failExt: map[string]bool{}}
}

func (f *tfleet) apply(d Decision, now time.Time) {
	for _, r := range d.Reimages {
		in := &f.ins[r.Index]
		in.Version, in.Running, in.Provisioning, in.Health = r.Image.Version, false, ProvisioningUpdating, HealthUnknown
		bt := f.bootTime
		if b, ok := f.boot[r.Index]; ok && r.Image.Version == f.target {
			bt = b
		}
		f.readyAt[r.Index] = now.Add(bt)
	}
}

func (f *tfleet) tick(now time.Time) {
	for i, at := range f.readyAt {
		if at.After(now) {
			continue
		}
		in := &f.ins[i]
		in.Running, in.Provisioning, in.Health = true, ProvisioningSucceeded, HealthHealthy
		if f.failExt[in.Version] {
			in.Provisioning = ProvisioningFailed
		}
		if f.badVer[in.Version] {
			in.Health = HealthUnhealthy
		}
		delete(f.readyAt, i)
	}
}

func (f *tfleet) nextReady() (t time.Time) {
	for _, at := range f.readyAt {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// trace runs a rollout to its end and writes what happened, one line per
// event, times relative to t0: the golden text the tests compare.
func trace(t *testing.T, r *Rollout, f *tfleet, hook func(now time.Time, e Event)) string {
	t.Helper()
	var b strings.Builder
	now := t0
	for step := 0; step < 100000; step++ {
		f.tick(now)
		d := r.Next(Observation{Now: now, Instances: f.ins})
		for _, e := range d.Events {
			fmt.Fprintf(&b, "%s %s", e.Time.Sub(t0), e.String())
			if e.Kind == EventBatchStarted {
				var ids []string
				for _, re := range d.Reimages {
					if !re.Rollback {
						ids = append(ids, fmt.Sprint(re.Index))
					}
				}
				fmt.Fprintf(&b, ": %s", strings.Join(ids, " "))
			}
			if e.Kind == EventRollbackStarted {
				fmt.Fprintf(&b, ": %d", e.Instance)
			}
			b.WriteByte('\n')
			if hook != nil {
				hook(now, e)
			}
		}
		f.apply(d, now)
		if r.Status().Terminal() {
			fmt.Fprintf(&b, "%s %s %s", r.EndTime().Sub(t0), r.Status(), r.ErrorCode())
			return strings.TrimSpace(b.String())
		}
		next := d.WakeAt
		if nr := f.nextReady(); !nr.IsZero() && (next.IsZero() || nr.Before(next)) {
			next = nr
		}
		if next.IsZero() || !next.After(now) {
			next = now.Add(time.Second)
		}
		now = next
	}
	t.Fatal("the rollout did not end")
	return ""
}

func newRollout(t *testing.T, p Policy, manual bool, zones []string) *Rollout {
	t.Helper()
	r, err := NewRollout(p, Image{Ref: "Canonical:UbuntuServer:18.04-LTS", Version: "v2"}, zones, manual, t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRollout_Scenarios(t *testing.T) {
	type tc struct {
		name   string
		n      int
		zones  []string
		policy func(*Policy)
		manual bool
		setup  func(f *tfleet)
		hook   func(r *Rollout, f *tfleet, now time.Time, e Event)
		want   string
		check  func(t *testing.T, r *Rollout)
	}
	cases := []tc{
		{
			name: "R-BATCH-1 R-BATCH-2 R-HEALTH-1 ten instances in five batches of two",
			n:    10,
			want: `0s rollout started
0s batch 1 started: 0 5
30s batch 1 finished
30s batch 2 started: 1 6
1m0s batch 2 finished
1m0s batch 3 started: 2 7
1m30s batch 3 finished
1m30s batch 4 started: 3 8
2m0s batch 4 finished
2m0s batch 5 started: 4 9
2m30s batch 5 finished
2m30s rollout finished
2m30s Completed`,
		},
		{
			name: "R-PRE-1 three of ten unhealthy: the rollout does not start",
			n:    10,
			setup: func(f *tfleet) {
				f.ins[1].Health, f.ins[2].Health, f.ins[3].Health = HealthUnhealthy, HealthUnknown, HealthUnhealthy
			},
			want: `0s rollout finished
0s NotStarted MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade`,
			check: func(t *testing.T, r *Rollout) {
				if !errors.Is(r.Err(), ErrPrecheckUnhealthy) {
					t.Errorf("Err() = %v, want ErrPrecheckUnhealthy", r.Err())
				}
			},
		},
		{
			name: "R-PRE-1 two of ten unhealthy (exactly 20%): the rollout starts",
			n:    10,
			// Any new OS disk is healthy in tfleet: the two come back.
			setup: func(f *tfleet) { f.ins[1].Health, f.ins[2].Running = HealthUnhealthy, false },
			check: func(t *testing.T, r *Rollout) {
				if r.Status() != StatusCompleted {
					t.Errorf("status %s, want Completed", r.Status())
				}
			},
		},
		{
			name:  "R-HEALTH-1 healthy at 4m59s after the upgrade: kept",
			n:     5,
			setup: func(f *tfleet) { f.boot[0] = 4*time.Minute + 59*time.Second },
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); r.Status() != StatusCompleted || c.Successful != 5 || c.RolledBack != 0 {
					t.Errorf("status %s progress %+v, want Completed with 5 successful", r.Status(), c)
				}
			},
		},
		{
			name:  "R-ROLLBACK-1 not healthy 5 minutes after the upgrade: rolled back, then R-STOP-1",
			n:     5,
			setup: func(f *tfleet) { f.boot[0] = 5*time.Minute + time.Second },
			want: `0s rollout started
0s batch 1 started: 0
5m0s rollback started: 0
5m30s batch 1 finished
5m30s rollout finished
5m30s Faulted MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade`,
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); c.RolledBack != 1 || c.Failed != 1 {
					t.Errorf("progress %+v, want 1 failed, rolled back", c)
				}
			},
		},
		{
			name:   "R-ROLLBACK-1 disableAutomaticRollback: failed, not rolled back",
			n:      5,
			policy: func(p *Policy) { p.DisableAutomaticRollback = true; p.MaxUnhealthyUpgradedInstancePercent = 100 },
			setup:  func(f *tfleet) { f.boot[0] = 6 * time.Minute },
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); c.RolledBack != 0 || c.Failed != 1 || c.Successful != 4 || r.Status() != StatusCompleted {
					t.Errorf("status %s progress %+v, want Completed with 1 failed and no rollback", r.Status(), c)
				}
			},
		},
		{
			name:   "R-TRIG-3 a manual rollout never rolls back",
			n:      5,
			manual: true,
			policy: func(p *Policy) { p.MaxUnhealthyUpgradedInstancePercent = 100 },
			setup:  func(f *tfleet) { f.boot[2] = 6 * time.Minute },
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); c.RolledBack != 0 || c.Failed != 1 {
					t.Errorf("progress %+v, want 1 failed, none rolled back", c)
				}
			},
		},
		{
			name: "R-STOP-1 four of twenty upgraded unhealthy (20%): the rollout goes on",
			n:    100,
			setup: func(f *tfleet) {
				f.boot[0], f.boot[5], f.boot[10], f.boot[15] = time.Hour, time.Hour, time.Hour, time.Hour
			},
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); r.Status() != StatusCompleted || c.RolledBack != 4 {
					t.Errorf("status %s progress %+v, want Completed with 4 rolled back", r.Status(), c)
				}
			},
		},
		{
			name: "R-STOP-1 five of twenty upgraded unhealthy (25%): Faulted after batch 1",
			n:    100,
			setup: func(f *tfleet) {
				for _, i := range []int{0, 5, 10, 15, 20} {
					f.boot[i] = time.Hour
				}
			},
			check: func(t *testing.T, r *Rollout) {
				if r.Status() != StatusFaulted || r.ErrorCode() != CodeUpgradedUnhealthy || len(r.Records()) != 1 {
					t.Errorf("status %s %s after %d batches, want Faulted with %s after 1", r.Status(), r.ErrorCode(), len(r.Records()), CodeUpgradedUnhealthy)
				}
				if !errors.Is(r.Err(), ErrUpgradedUnhealthy) {
					t.Errorf("Err() = %v", r.Err())
				}
			},
		},
		{
			name: "R-STOP-2 maintenance makes 3 of 10 unhealthy during batch 2: stop at the end of batch 2",
			n:    10,
			hook: func(r *Rollout, f *tfleet, now time.Time, e Event) {
				if e.Kind == EventBatchStarted && e.Batch == 2 {
					for _, i := range []int{3, 4, 9} {
						f.ins[i].Health = HealthUnhealthy
					}
				}
			},
			want: `0s rollout started
0s batch 1 started: 0 5
30s batch 1 finished
30s batch 2 started: 1 6
1m0s batch 2 finished
1m0s rollout finished
1m0s Faulted MaxUnhealthyInstancePercentExceededInRollingUpgrade`,
		},
		{
			name: "R-TRIG-4 cancel during batch 2: batch 2 finishes, no batch 3",
			n:    10,
			hook: func(r *Rollout, f *tfleet, now time.Time, e Event) {
				if e.Kind == EventBatchStarted && e.Batch == 2 {
					r.Cancel()
				}
			},
			want: `0s rollout started
0s batch 1 started: 0 5
30s batch 1 finished
30s batch 2 started: 1 6
1m0s batch 2 finished
1m0s rollout finished
1m0s Cancelled`,
		},
		{
			name: "R-TRIG-4 cancel during the last batch: it finishes, the rollout reads Cancelled",
			n:    5,
			hook: func(r *Rollout, f *tfleet, now time.Time, e Event) {
				if e.Kind == EventBatchStarted && e.Batch == 5 {
					r.Cancel()
				}
			},
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); r.Status() != StatusCancelled || c.Successful != 5 || len(r.Records()) != 5 {
					t.Errorf("status %s progress %+v after %d batches, want Cancelled with all 5 upgraded", r.Status(), c, len(r.Records()))
				}
			},
		},
		{
			name:   "R-HEALTH-2 without a probe or extension: running and provisioned is healthy",
			n:      5,
			policy: func(p *Policy) { p.HealthMode = HealthNone },
			setup:  func(f *tfleet) { f.badVer["v2"] = true }, // the app says unhealthy; nobody asks it
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); r.Status() != StatusCompleted || c.Successful != 5 {
					t.Errorf("status %s progress %+v, want Completed", r.Status(), c)
				}
			},
		},
		{
			name:  "R-CRED-1 extensions fail on the new disk and again after the rollback",
			n:     10,
			setup: func(f *tfleet) { f.failExt["v2"], f.failExt["v1"] = true, true },
			want: `0s rollout started
0s batch 1 started: 0 5
30s rollback started: 0
30s rollback started: 5
1m0s batch 1 finished
1m0s rollout finished
1m0s Faulted MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade`,
			check: func(t *testing.T, r *Rollout) {
				if c := r.Progress(); c.RollbackFailed != 2 || c.Failed != 2 {
					t.Errorf("progress %+v, want 2 failed rollbacks", c)
				}
			},
		},
		{
			name:   "pauseTimeBetweenBatches holds the next batch back",
			n:      5,
			policy: func(p *Policy) { p.PauseTimeBetweenBatches = 10 * time.Minute },
			want: `0s rollout started
0s batch 1 started: 0
30s batch 1 finished
10m30s batch 2 started: 1
11m0s batch 2 finished
21m0s batch 3 started: 2
21m30s batch 3 finished
31m30s batch 4 started: 3
32m0s batch 4 finished
42m0s batch 5 started: 4
42m30s batch 5 finished
42m30s rollout finished
42m30s Completed`,
		},
		{
			name:  "R-AVAIL-1 zones go one after another, never together",
			n:     6,
			zones: []string{"3", "1"},
			want: `0s rollout started
0s batch 1 started: 0
30s batch 1 finished
30s batch 2 started: 2
1m0s batch 2 finished
1m0s batch 3 started: 4
1m30s batch 3 finished
1m30s batch 4 started: 1
2m0s batch 4 finished
2m0s batch 5 started: 3
2m30s batch 5 finished
2m30s batch 6 started: 5
3m0s batch 6 finished
3m0s rollout finished
3m0s Completed`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultPolicy()
			if c.policy != nil {
				c.policy(&p)
			}
			f := newTFleet(c.n, c.zones)
			if c.setup != nil {
				c.setup(f)
			}
			r := newRollout(t, p, c.manual, c.zones)
			var hook func(time.Time, Event)
			if c.hook != nil {
				hook = func(now time.Time, e Event) { c.hook(r, f, now, e) }
			}
			got := trace(t, r, f, hook)
			if c.want != "" && got != c.want {
				t.Errorf("trace\n--- got\n%s\n--- want\n%s", got, c.want)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// Record(n) is Records()[n-1] for every batch that started, and refused
// outside them; a rollout whose batches reuse one member list reports every
// batch's own instances.
func TestRollout_RecordIsOneOfRecords(t *testing.T) {
	r := newRollout(t, DefaultPolicy(), false, []string{"1", "2", "3"})
	f := newTFleet(30, []string{"1", "2", "3"})
	trace(t, r, f, nil)
	all := r.Records()
	if len(all) < 2 {
		t.Fatalf("%d batches, want several", len(all))
	}
	for n := -1; n <= len(all)+1; n++ {
		got, ok := r.Record(n)
		if want := n >= 1 && n <= len(all); ok != want {
			t.Fatalf("Record(%d) ok = %v, want %v", n, ok, want)
		}
		if ok && got != all[n-1] {
			t.Errorf("Record(%d) = %+v, want %+v", n, got, all[n-1])
		}
	}
	seen := map[int]bool{}
	for _, b := range all {
		for pos := b.From; pos < b.To; pos++ {
			if id := r.InstanceAt(pos); seen[id] {
				t.Errorf("instance %d in two batches", id)
			} else {
				seen[id] = true
			}
		}
	}
	if c := r.Progress(); len(seen) != 30 || c.Successful != 30 {
		t.Errorf("%d instances in batches, progress %+v: want all 30 upgraded", len(seen), c)
	}
}

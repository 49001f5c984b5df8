package plan

import (
	"encoding/json"
	"strings"
	"testing"
)

// v1Rollout is a rollout as the release before the state was sealed stored
// it (from orchestrator/api/testdata/state-v1/state.db): batch 2 of 5 in
// progress, its two members reimaged.
const v1Rollout = `{"Policy":{"MaxBatchInstancePercent":20,"MaxUnhealthyInstancePercent":20,"MaxUnhealthyUpgradedInstancePercent":20,"PauseTimeBetweenBatches":0,"PrioritizeUnhealthyInstances":false,"DisableAutomaticRollback":false,"HealthMode":0},"Target":{"Ref":"Canonical:UbuntuServer:18.04-LTS","Version":"18.04.202612010"},"Zones":null,"Manual":true,"Created":"2026-12-02T08:26:06.394534477Z","Status":"RollingForward","ErrorCode":"","ErrorMessage":"","StartTime":"2026-12-02T08:26:06.394534477Z","EndTime":"0001-01-01T00:00:00Z","Order":[0,5,1,6,2,7,3,8,4,9],"Outcomes":"AQEAAAAAAAAAAA==","ByInstance":"AQAAAAABAAAAAA==","Batches":[{"From":0,"To":2,"Zone":"","UpdateDomain":0},{"From":2,"To":4,"Zone":"","UpdateDomain":1},{"From":4,"To":6,"Zone":"","UpdateDomain":2},{"From":6,"To":8,"Zone":"","UpdateDomain":3},{"From":8,"To":10,"Zone":"","UpdateDomain":4}],"Records":[{"From":0,"To":2,"Zone":"","UpdateDomain":0,"StartTime":"2026-12-02T08:26:06.394534477Z","EndTime":"2026-12-02T08:27:11.576049037Z"},{"From":2,"To":4,"Zone":"","UpdateDomain":1,"StartTime":"2026-12-02T08:27:11.576049037Z","EndTime":"0001-01-01T00:00:00Z"}],"Current":1,"InBatch":true,"Members":[{"Index":1,"Phase":0,"Since":"2026-12-02T08:27:12.429250417Z","PrevVersion":"18.04.202511120"},{"Index":6,"Phase":0,"Since":"2026-12-02T08:27:12.438517417Z","PrevVersion":"18.04.202511120"}],"PauseUntil":"0001-01-01T00:00:00Z","CancelRequested":false,"Planned":true}`

// A rollout stored by the previous release restores, reads as it did, and
// is stored again byte for byte as it was: the Snapshot's JSON is stable.
func TestSnapshotReadsAndWritesThePreviousReleasesJSON(t *testing.T) {
	var r Rollout
	if err := json.Unmarshal([]byte(v1Rollout), &r); err != nil {
		t.Fatal(err)
	}
	if c := r.Progress(); r.Status() != StatusRollingForward || !r.InBatch() || r.BatchesStarted() != 2 || c.Successful != 2 || c.InProgress != 2 || c.Pending != 6 {
		t.Fatalf("restored %s, in batch %v after %d batches, %+v", r.Status(), r.InBatch(), r.BatchesStarted(), c)
	}
	if r.Policy() != DefaultPolicy() || r.Target().Version != "18.04.202612010" || !r.Manual() {
		t.Fatalf("restored policy %+v target %s manual %v", r.Policy(), r.Target(), r.Manual())
	}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != v1Rollout {
		t.Fatalf("stored again as\n%s\nwant\n%s", b, v1Rollout)
	}
}

// A damaged snapshot is refused with an error naming the field, never a
// panic at the next step.
func TestRestoreRefusesADamagedSnapshot(t *testing.T) {
	var good Snapshot
	if err := json.Unmarshal([]byte(v1Rollout), &good); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(good); err != nil {
		t.Fatalf("the stored snapshot: %v", err)
	}
	for _, c := range []struct {
		name  string
		spoil func(s *Snapshot)
		want  string
	}{
		{"unknown status", func(s *Snapshot) { s.Status = "Sideways" }, "Status"},
		{"no target version", func(s *Snapshot) { s.Target.Version = "" }, "Target"},
		{"outcomes short", func(s *Snapshot) { s.Outcomes = s.Outcomes[:3] }, "Outcomes"},
		{"order past the fleet", func(s *Snapshot) { s.Order[0] = 99 }, "Order"},
		{"batch past the order", func(s *Snapshot) { s.Batches[4].To = 11 }, "Batches[4]"},
		{"current past the batches", func(s *Snapshot) { s.Current = 6 }, "Current"},
		{"members of another batch", func(s *Snapshot) { s.Members = s.Members[:1] }, "Members"},
		{"member past the fleet", func(s *Snapshot) { s.Members[1].Index = 10 }, "member"},
		{"policy out of range", func(s *Snapshot) { s.Policy.MaxBatchInstancePercent = 1 }, "maxBatchInstancePercent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s Snapshot
			if err := json.Unmarshal([]byte(v1Rollout), &s); err != nil {
				t.Fatal(err)
			}
			c.spoil(&s)
			if _, err := Restore(s); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore: %v, want an error naming %s", err, c.want)
			}
		})
	}
}

// A snapshot shares no memory with its rollout: a reader cannot change the
// planner's state through it.
func TestSnapshotSharesNoMemory(t *testing.T) {
	var r Rollout
	if err := json.Unmarshal([]byte(v1Rollout), &r); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	s.Order[0], s.Outcomes[0], s.Members[0].Index, s.Records[0].To = 9, OutcomeFailed, 9, 9
	if r.InstanceAt(0) != 0 || r.Progress().Successful != 2 || r.members[0].Index != 1 || r.Records()[0].To != 2 {
		t.Fatal("changing a snapshot changed the rollout")
	}
}

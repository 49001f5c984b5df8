package api

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
)

// kindSwitch holds, for a fleet other than the simulator (which saves its
// whole state as snapshots), the fault switches it cannot recover by
// itself when the server restarts: the Docker fleet reattaches to its
// containers and reads back the switches their agents' configs carry (lie,
// flap, slow-boot, extension-failure, pause), not the down and
// app-unhealthy counters, nor the network faults it applies from the host.
// "set/000000012/group" -> savedSwitch.
const kindSwitch = "fleetswitch"

type savedSwitch struct {
	Switch fault.Switch `json:"switch"`
	Count  int          `json:"count"` // on minus off, for the counters; 1 for a network fault
}

// switchGroup is the ledger's name for a switch kind, "" for the kinds a
// fleet recovers itself or that leave no state (restart).
func switchGroup(k fault.Kind) string {
	switch k {
	case fault.Down, fault.Kill, fault.Stop:
		return "down" // one counter, as in both fleets
	case fault.AppUnhealthy, fault.Partition, fault.Loss, fault.Latency, fault.SlowLink:
		return string(k)
	}
	return ""
}

// switchDocs are the ledger's records after sw was applied to ids.
func (f *recordingFleet) switchDocs(ctx context.Context, set string, ids []int, sw fault.Switch) ([]boltstore.Doc, error) {
	group := switchGroup(sw.Kind)
	if f.sim != nil || group == "" {
		return nil, nil
	}
	var docs []boltstore.Doc
	for _, id := range ids {
		key := vmKey(set, id) + "/" + group
		var saved savedSwitch
		doc, ok, err := f.store.Resource(ctx, kindSwitch, key)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := json.Unmarshal(doc, &saved); err != nil {
				return nil, fmt.Errorf("saved switch %s: %w", key, err)
			}
		}
		switch {
		case sw.On && (group == "down" || group == string(fault.AppUnhealthy)):
			saved.Switch, saved.Count = sw, saved.Count+1
		case sw.On:
			saved.Switch, saved.Count = sw, 1
		default:
			saved.Count = max(0, saved.Count-1)
			if group != "down" && group != string(fault.AppUnhealthy) {
				saved.Count = 0
			}
		}
		b, err := json.Marshal(saved)
		if err != nil {
			return nil, err
		}
		docs = append(docs, boltstore.Doc{Kind: kindSwitch, Key: key, Value: b})
	}
	return docs, nil
}

// restoreSwitches turns the ledger's switches on again, as many times as
// they were on, in a fleet that came back without them.
func (f *recordingFleet) restoreSwitches(ctx context.Context) error {
	inj, ok := f.base.(fault.Injector)
	if !ok || f.sim != nil {
		return nil
	}
	type entry struct {
		set string
		id  int
		s   savedSwitch
	}
	var es []entry
	err := f.store.Resources(ctx, kindSwitch, "", func(k string, doc []byte) error {
		set, id, err := parseSwitchKey(k)
		if err != nil {
			return err
		}
		var s savedSwitch
		if err := json.Unmarshal(doc, &s); err != nil {
			return fmt.Errorf("saved switch %s: %w", k, err)
		}
		es = append(es, entry{set, id, s})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range es {
		if _, ok := f.sets[e.set]; !ok {
			continue
		}
		for range e.s.Count {
			if err := inj.Inject(ctx, e.set, []int{e.id}, e.s.Switch); err != nil {
				return fmt.Errorf("turn %s on again on %s/%d: %w", e.s.Switch.Kind, e.set, e.id, err)
			}
		}
	}
	return nil
}

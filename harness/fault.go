package harness

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Fault is one kind of fault a scenario names. Each lives in its own file and
// registers itself by name: the name is the scenario vocabulary.
//
// The contract for fault authors: Apply does its work now and returns; an
// undo (nil when the fault ends by itself or lasts forever) ends it; every
// blocking call honours ctx; a fleet that cannot do the fault returns an
// error wrapping fault.ErrUnsupported, never a silent no-op.
type Fault interface {
	Apply(ctx context.Context, w *World, t Target) (undo func(context.Context) error, err error)
}

// Target is what a timeline entry selected.
type Target struct {
	Set   string
	IDs   []int
	Entry *scenario.Entry
}

var registry = map[string]Fault{}

func register(name string, f Fault) {
	if _, dup := registry[name]; dup {
		panic("harness: fault " + name + " registered twice")
	}
	registry[name] = f
}

// FaultNames lists the registered faults.
func FaultNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Vocabulary is what scenario files may name.
func Vocabulary() scenario.Vocabulary { return scenario.Vocabulary{Faults: FaultNames()} }

// switchFault is a fault that flips one switch on the selected instances,
// and flips it back when the entry's duration ends.
type switchFault struct {
	build func(e *scenario.Entry) fault.Switch
}

func (s switchFault) Apply(ctx context.Context, w *World, t Target) (func(context.Context) error, error) {
	return s.apply(ctx, w, t, s.build(t.Entry))
}

// apply turns sw on for the target and returns the undo that turns it off.
func (switchFault) apply(ctx context.Context, w *World, t Target, sw fault.Switch) (func(context.Context) error, error) {
	sw.On = true
	if err := w.inject(ctx, t.Set, t.IDs, sw); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		off := sw
		off.On = false
		return w.inject(ctx, t.Set, t.IDs, off)
	}, nil
}

func (w *World) inject(ctx context.Context, set string, ids []int, sw fault.Switch) error {
	inj, ok := w.Fleet.(fault.Injector)
	if !ok {
		return fmt.Errorf("%w: the %s fleet takes no fault switches", fault.ErrUnsupported, w.FleetName)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := inj.Inject(ctx, set, ids, sw); err != nil {
		return fmt.Errorf("%s on %d instances of %s: %w", sw.Kind, len(ids), set, err)
	}
	return nil
}

// selectIDs picks the instances an entry names: count or percent (random
// picks from the scenario seed, percent rounded up so that "percent: 21" of
// 10 is 3), ids, a zone, an update domain; no selector: all of them.
func (w *World) selectIDs(set string, e *scenario.Entry, entryIndex int) []int {
	m, _ := w.Orch.ScaleSet(set)
	n := m.Capacity
	switch {
	case e.Instances != nil:
		return slices.Clone(e.Instances)
	case e.Zone != "" || e.UpdateDomain != nil:
		var ids []int
		for i := range n {
			z, ud := m.Placement(i)
			if (e.Zone != "" && z == e.Zone) || (e.UpdateDomain != nil && ud == *e.UpdateDomain) {
				ids = append(ids, i)
			}
		}
		return ids
	case e.Count != nil || e.Percent != nil:
		k := 0
		if e.Count != nil {
			k = *e.Count
		} else {
			k = (n**e.Percent + 99) / 100
		}
		return w.pick(set, entryIndex, n, k)
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids
}

// pick draws k distinct instances of n from a stream of the scenario seed
// owned by this entry, so one entry's draw never shifts another's.
func (w *World) pick(set string, entryIndex, n, k int) []int {
	rng := w.rng("select", set, entryIndex)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := 0; i < k; i++ {
		j := i + rng.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	out := perm[:k]
	slices.Sort(out)
	return out
}

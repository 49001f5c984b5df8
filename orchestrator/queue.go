package orchestrator

import (
	"container/heap"
	"time"
)

// dueQueue orders scale sets by the time they are next due: a heap with
// one entry per set, moved in place when its time changes.
type dueQueue struct {
	items []dueItem
	pos   map[string]int // set → index in items
}

type dueItem struct {
	at  time.Time
	set string
}

func newDueQueue() *dueQueue { return &dueQueue{pos: map[string]int{}} }

// Set makes set due at at; a zero at removes it.
func (q *dueQueue) Set(set string, at time.Time) {
	i, ok := q.pos[set]
	switch {
	case at.IsZero() && ok:
		heap.Remove(q, i)
	case at.IsZero():
	case ok:
		q.items[i].at = at
		heap.Fix(q, i)
	default:
		heap.Push(q, dueItem{at: at, set: set})
	}
}

// PopDue removes and returns the sets due by now.
func (q *dueQueue) PopDue(now time.Time, out []string) []string {
	for len(q.items) > 0 && !q.items[0].at.After(now) {
		out = append(out, heap.Pop(q).(dueItem).set)
	}
	return out
}

// Next is the earliest due time; zero when nothing is queued.
func (q *dueQueue) Next() time.Time {
	if len(q.items) == 0 {
		return time.Time{}
	}
	return q.items[0].at
}

func (q *dueQueue) Len() int { return len(q.items) }
func (q *dueQueue) Less(i, j int) bool {
	if !q.items[i].at.Equal(q.items[j].at) {
		return q.items[i].at.Before(q.items[j].at)
	}
	return q.items[i].set < q.items[j].set
}
func (q *dueQueue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.pos[q.items[i].set] = i
	q.pos[q.items[j].set] = j
}
func (q *dueQueue) Push(x any) {
	it := x.(dueItem)
	q.pos[it.set] = len(q.items)
	q.items = append(q.items, it)
}
func (q *dueQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	delete(q.pos, it.set)
	return it
}

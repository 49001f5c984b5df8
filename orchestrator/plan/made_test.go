package plan

import (
	"testing"
	"time"
)

func TestReimagesMadeMovesEachOpenMembersWaitToItsOwnReimage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	members := func() []Member {
		return []Member{
			{Index: 4, Phase: PhaseUpgrading, Since: t0},
			{Index: 9, Phase: PhaseUpgrading, Since: t0},
			{Index: 14, Phase: PhaseDone, Since: t0},
			{Index: 19, Phase: PhaseRollingBack, Since: at(100)},
		}
	}
	tests := []struct {
		name string
		made []Made
		want []time.Time // Since of each member afterwards
	}{
		{name: "none", want: []time.Time{t0, t0, t0, at(100)}},
		{name: "in batch order", made: []Made{{4, at(1)}, {9, at(2)}, {14, at(3)}, {19, at(104)}},
			want: []time.Time{at(1), at(2), t0, at(104)}},
		{name: "out of order", made: []Made{{19, at(105)}, {9, at(2)}, {4, at(1)}},
			want: []time.Time{at(1), at(2), t0, at(105)}},
		{name: "a subset, skipping members", made: []Made{{9, at(7)}, {19, at(107)}},
			want: []time.Time{t0, at(7), t0, at(107)}},
		{name: "not a member", made: []Made{{5, at(1)}, {9, at(2)}},
			want: []time.Time{t0, at(2), t0, at(100)}},
		{name: "never earlier than the decision", made: []Made{{19, at(50)}},
			want: []time.Time{t0, t0, t0, at(100)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Rollout{members: members()}
			r.ReimagesMade(tc.made)
			for i, m := range r.members {
				if !m.Since.Equal(tc.want[i]) {
					t.Errorf("member %d (instance %d): since t0+%s, want t0+%s", i, m.Index, m.Since.Sub(t0), tc.want[i].Sub(t0))
				}
			}
		})
	}
}

package docker

import (
	"errors"
	"os"
	"testing"
)

// The liveness decision behind the sweep: only an owner of this host whose
// pid is gone, or now belongs to a process started at another time, is
// gone; everything it cannot judge is left alone.
func TestJudgeTestOwner(t *testing.T) {
	procs := map[int]uint64{100: 5000, 200: 7000} // pid -> start time
	start := func(pid int) (uint64, bool, error) {
		if pid == 666 {
			return 0, false, errors.New("permission denied")
		}
		s, ok := procs[pid]
		return s, ok, nil
	}
	cases := []struct {
		owner string
		want  ownerLiveness
		err   bool
	}{
		{"test:box:100:5000", ownerAlive, false},
		{"test:box:101:5000", ownerGone, false},      // no such process
		{"test:box:200:5000", ownerGone, false},      // pid reused by a later process
		{"test:other:101:5000", ownerUnknown, false}, // another host's: cannot judge
		{"test:box:abc:5000", ownerUnknown, false},   // malformed pid
		{"test:box:100", ownerUnknown, false},        // no start time
		{"test:box:0:5000", ownerUnknown, false},     // no pid 0
		{"osupgrade", ownerUnknown, false},           // not a test owner
		{"", ownerUnknown, false},                    // none
		{"test:b:o:x:100:5000", ownerUnknown, false}, // host "b:o:x" is not this host
		{"test:box:666:1", ownerUnknown, true},       // unreadable: not swept
		{formatTestOwner("box", 100, 5000), ownerAlive, false},
	}
	for _, c := range cases {
		got, err := judgeTestOwner(c.owner, "box", start)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("judgeTestOwner(%q) = %v, %v; want %v, error %t", c.owner, got, err, c.want, c.err)
		}
	}
}

func TestParseProcStart(t *testing.T) {
	cases := []struct {
		stat  string
		start uint64
		alive bool
		err   bool
	}{
		{"25874 (cat) R 25858 25858 2773 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 93170 3133440 415", 93170, true, false},
		// A command name with spaces and a ')' of its own.
		{"7 (a b) c) S 1 7 7 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 42 3133440 415", 42, true, false},
		{"9 (dead) Z 1 9 9 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 0, false, false},
		{"9 (short) S 1 2", 0, false, true},
		{"garbage", 0, false, true},
	}
	for _, c := range cases {
		start, alive, err := parseProcStart(c.stat)
		if start != c.start || alive != c.alive || (err != nil) != c.err {
			t.Errorf("parseProcStart(%q) = %d, %t, %v; want %d, %t, error %t", c.stat, start, alive, err, c.start, c.alive, c.err)
		}
	}
}

// This process judges itself alive.
func TestTestOwnerOfThisProcess(t *testing.T) {
	owner, err := TestOwner()
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if v, err := judgeTestOwner(owner, host, procStart); v != ownerAlive || err != nil {
		t.Fatalf("this process's owner %q judged %v, %v; want alive", owner, v, err)
	}
}

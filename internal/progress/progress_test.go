package progress

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
)

// Each mode writes what it promises for the same calls.
func TestPrinterModes(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		want string
	}{
		{Plain, "batch 1 started\nfailed: x\nimage built\n"},
		{None, ""},
		{Live, "\r\033[Krun 1/3\r\033[Kbatch 1 started\r\033[Kfailed: x\nimage built\n\r\033[Kbatch 1 finished\r\033[K"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			var b bytes.Buffer
			p := New(&b, tc.mode)
			p.Status("run %d/%d", 1, 3)
			p.Event("batch %d started", 1)
			p.Note("failed: %s", "x")
			if w := p.Writer(); w != nil {
				fmt.Fprint(w, "\r\033[Kimage ")
				fmt.Fprint(w, "built\n")
			}
			if tc.mode == Live {
				p.Status("batch 1 finished")
			}
			p.Clear()
			if b.String() != tc.want {
				t.Fatalf("wrote %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// Auto is plain off a terminal (a file, a buffer); a nil printer is silent.
func TestAutoOffATerminalIsPlain(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m := New(f, Auto).Mode(); m != Plain {
		t.Fatalf("auto on a file: %s, want plain", m)
	}
	if m := New(&bytes.Buffer{}, Auto).Mode(); m != Plain {
		t.Fatalf("auto on a buffer: %s, want plain", m)
	}
	var p *Printer
	p.Event("nothing")
	if p.Mode() != None || p.Writer() != nil {
		t.Fatal("a nil printer is not silent")
	}
	if _, err := ParseMode("live"); err == nil {
		t.Fatal("--progress live accepted: auto picks it, users name auto")
	}
}

// Every: the first call, every N, and any call 30 s after the last line.
func TestEveryNCallsOrInterval(t *testing.T) {
	now := time.Unix(0, 0)
	e := Every{N: 3, Interval: 30 * time.Second, Now: func() time.Time { return now }}
	var got []int
	for i := 1; i <= 8; i++ {
		if i == 6 {
			now = now.Add(31 * time.Second)
		}
		if e.Due() {
			got = append(got, i)
		}
	}
	if want := []int{1, 4, 6, 7}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines at calls %v, want %v", got, want)
	}
}

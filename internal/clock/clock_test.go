package clock

import (
	"testing"
	"time"
)

func TestVirtual(t *testing.T) {
	c := NewVirtual(Epoch)
	ch := c.After(time.Minute)
	c.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	c.Set(Epoch.Add(2 * time.Minute))
	if got := <-ch; !got.Equal(Epoch.Add(2 * time.Minute)) {
		t.Errorf("fired with %s", got)
	}
	c.Set(Epoch) // never back
	if !c.Now().Equal(Epoch.Add(2 * time.Minute)) {
		t.Errorf("went back to %s", c.Now())
	}
}

// A scaled clock held during set-up stands still, then runs on from there;
// Skip jumps it forward; it never runs backwards.
func TestScaledHoldSkip(t *testing.T) {
	wall := Epoch
	c := &Scaled{start: Epoch, wallStart: wall, scale: 60, wallNow: func() time.Time { return wall }}
	wall = wall.Add(time.Second)
	if got := c.Now().Sub(Epoch); got != time.Minute {
		t.Fatalf("after 1 wall second: %s, want 1m", got)
	}
	c.Hold()
	wall = wall.Add(10 * time.Second)
	if got := c.Now().Sub(Epoch); got != time.Minute {
		t.Fatalf("held: %s, want 1m", got)
	}
	c.Release()
	wall = wall.Add(time.Second)
	if got := c.Now().Sub(Epoch); got != 2*time.Minute {
		t.Fatalf("released: %s, want 2m", got)
	}
	c.Skip(time.Hour)
	if got := c.Now().Sub(Epoch); got != time.Hour+2*time.Minute {
		t.Fatalf("skipped: %s", got)
	}
	if c.Wall(time.Minute) != time.Second {
		t.Errorf("Wall(1m) = %s", c.Wall(time.Minute))
	}
}

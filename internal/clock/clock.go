// Package clock provides the orchestrator's clocks: a virtual one that only
// moves when told (the simulator's), and a scaled real one (Docker runs,
// where one scenario minute can pass in one wall second).
package clock

import (
	"sort"
	"sync"
	"time"
)

// Epoch is where scenario clocks start unless a scenario says otherwise.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Virtual is a clock that moves only through Set or Advance. After channels
// fire when the clock reaches their time. Safe for concurrent use.
type Virtual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewVirtual starts a virtual clock at t.
func NewVirtual(t time.Time) *Virtual { return &Virtual{now: t} }

// Now is the clock's time.
func (c *Virtual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After fires once the clock has moved d forward.
func (c *Virtual) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at, ch})
	return ch
}

// Set moves the clock to t; it never goes back.
func (c *Virtual) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return
	}
	c.now = t
	sort.SliceStable(c.waiters, func(i, j int) bool { return c.waiters[i].at.Before(c.waiters[j].at) })
	n := 0
	for _, w := range c.waiters {
		if w.at.After(t) {
			break
		}
		w.ch <- t
		n++
	}
	c.waiters = c.waiters[n:]
}

// Advance moves the clock d forward.
func (c *Virtual) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Scaled is real time sped up: scenario time = start + skipped + scale ×
// wall time elapsed. Scale 60 runs one scenario minute per wall second.
// Safe for concurrent use.
type Scaled struct {
	mu        sync.Mutex
	start     time.Time
	wallStart time.Time
	skipped   time.Duration
	scale     float64
	held      bool
	wallNow   func() time.Time
}

// NewScaled starts a scaled clock at scenario time start. scale must be > 0.
func NewScaled(start time.Time, scale float64) *Scaled {
	return &Scaled{start: start, wallStart: time.Now(), scale: scale, wallNow: time.Now}
}

// Now is the scenario time.
func (c *Scaled) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		return c.start.Add(c.skipped)
	}
	return c.start.Add(c.skipped + time.Duration(float64(c.wallNow().Sub(c.wallStart))*c.scale))
}

// Hold stops the clock where it is until Release: setting a world up is not
// scenario time, and time never runs backwards for whoever reads it.
func (c *Scaled) Hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		return
	}
	c.skipped += time.Duration(float64(c.wallNow().Sub(c.wallStart)) * c.scale)
	c.held = true
}

// Release lets a held clock run again from where it stopped.
func (c *Scaled) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return
	}
	c.wallStart, c.held = c.wallNow(), false
}

// Skip jumps the scenario clock d forward at once: idle scenario time (hours
// before a platform rollout is due) need not pass in wall time.
func (c *Scaled) Skip(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped += d
}

// After fires after d of scenario time, delivering the scenario time.
func (c *Scaled) After(d time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	wall := time.Duration(float64(d) / c.scale)
	time.AfterFunc(wall, func() { out <- c.Now() })
	return out
}

// Wall converts a scenario duration into wall time.
func (c *Scaled) Wall(d time.Duration) time.Duration { return time.Duration(float64(d) / c.scale) }

// Scale is the speed-up factor.
func (c *Scaled) Scale() float64 { return c.scale }

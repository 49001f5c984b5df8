package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/osupgrade/osupgrade/fakes/fault"
)

func TestTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("remove: %w", cerrdefs.ErrConflict), true},
		{fmt.Errorf("start: %w", cerrdefs.ErrUnavailable), true},
		{fmt.Errorf("daemon: %w", cerrdefs.ErrInternal), true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("create: %w", cerrdefs.ErrNotFound), false},
		{fmt.Errorf("create: %w", cerrdefs.ErrInvalidArgument), false},
		{fmt.Errorf("create: %w", cerrdefs.ErrPermissionDenied), false},
		{context.Canceled, false},
		{errors.New("no container"), false},
	}
	for _, c := range cases {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %t, want %t", c.err, got, c.want)
		}
	}
}

func TestRetryStopsOnSuccessOrPermanentError(t *testing.T) {
	f := &Fleet{}
	ctx := context.Background()
	calls := 0
	err := f.retry(ctx, func() error {
		calls++
		if calls < 3 {
			return cerrdefs.ErrUnavailable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("transient twice then success: err %v after %d calls", err, calls)
	}
	calls = 0
	err = f.retry(ctx, func() error { calls++; return cerrdefs.ErrNotFound })
	if !errors.Is(err, cerrdefs.ErrNotFound) || calls != 1 {
		t.Fatalf("permanent: err %v after %d calls, want not found after 1", err, calls)
	}
	calls = 0
	cctx, cancel := context.WithCancel(ctx)
	err = f.retry(cctx, func() error { calls++; cancel(); return cerrdefs.ErrUnavailable })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cerrdefs.ErrUnavailable) || calls != 1 {
		t.Fatalf("cancelled: err %v after %d calls", err, calls)
	}
}

func TestWallSwitchScalesRatesAndDelays(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    fault.Switch
		scale float64
		want  fault.Switch
	}{
		{"slow link 1 KB/s at 20", fault.Switch{Kind: fault.SlowLink, Rate: 1024}, 20, fault.Switch{Kind: fault.SlowLink, Rate: 20480}},
		{"slow link at 1", fault.Switch{Kind: fault.SlowLink, Rate: 512}, 1, fault.Switch{Kind: fault.SlowLink, Rate: 512}},
		{"latency 2 s at 20", fault.Switch{Kind: fault.Latency, Delay: 2 * time.Second}, 20, fault.Switch{Kind: fault.Latency, Delay: 100 * time.Millisecond}},
		{"loss unchanged", fault.Switch{Kind: fault.Loss, Percent: 30}, 60, fault.Switch{Kind: fault.Loss, Percent: 30}},
		{"no scale", fault.Switch{Kind: fault.SlowLink, Rate: 1024}, 0, fault.Switch{Kind: fault.SlowLink, Rate: 1024}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wallSwitch(tc.in, tc.scale); got != tc.want {
				t.Fatalf("wallSwitch(%+v, %g) = %+v, want %+v", tc.in, tc.scale, got, tc.want)
			}
		})
	}
}

// The classic builder's step containers are recognised by their command (as
// the engine lists it), so that a concurrent image build does not look like
// a foreign container touched by the run (I-7); anything else is not.
func TestBuilderStep(t *testing.T) {
	for _, c := range []struct {
		command string
		want    bool
	}{
		{`/bin/sh -c '#(nop) ' 'LABEL a=b'`, true},
		{`/bin/sh -c '#(nop) ' 'COPY file:0123 in /osupgrade '`, true},
		{`/osupgrade agent`, false},
		{`/bin/sh -c 'echo #(nop)'`, false},
		{``, false},
	} {
		if got := builderStep(c.command); got != c.want {
			t.Errorf("builderStep(%q) = %v, want %v", c.command, got, c.want)
		}
	}
}

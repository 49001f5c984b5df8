package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
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

package docker

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// retryDelays are the waits between attempts of an engine operation.
var retryDelays = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second, 2 * time.Second}

// retry runs op until it succeeds, fails permanently, or the attempts are
// used up; the error returned is the last one, with the engine's message.
func (f *Fleet) retry(ctx context.Context, op func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		if err = op(); err == nil || !Transient(err) || attempt == len(retryDelays) {
			return err
		}
		t := time.NewTimer(retryDelays[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// Transient reports an engine error worth retrying: the engine unreachable
// or busy, a conflict with an operation still in progress (a removal), a
// dropped connection. Not found, invalid and forbidden are permanent.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch {
	case errdefs.IsNotFound(err), errdefs.IsInvalidArgument(err), errdefs.IsPermissionDenied(err), errdefs.IsNotImplemented(err):
		return false
	case errdefs.IsUnavailable(err), errdefs.IsConflict(err), errdefs.IsInternal(err), errdefs.IsUnknown(err), errdefs.IsDeadlineExceeded(err):
		return true
	case client.IsErrConnectionFailed(err), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

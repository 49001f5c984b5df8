package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

// handlerDoer serves requests in process: the twin has no socket.
type handlerDoer struct{ h http.Handler }

func (d handlerDoer) Do(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	d.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// twinOutcome replays a planned rollout alone on a fresh server in process,
// on the virtual clock: the same requests in the same order, the same
// scenario time between them (moved on the clock instead of slept), and
// returns its outcome.
func twinOutcome(ctx context.Context, p rolloutPlan, seed uint64, bootTime string) (Outcome, error) {
	dir, err := os.MkdirTemp("", "osupgrade-soak-twin-")
	if err != nil {
		return Outcome{}, err
	}
	defer os.RemoveAll(dir)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Outcome{}, err
	}
	token := hex.EncodeToString(b[:])
	srv, err := api.Open(ctx, api.Options{DataDir: dir, Fleet: "sim", Clock: "virtual", Token: token, Seed: seed})
	if err != nil {
		return Outcome{}, fmt.Errorf("twin server: %w", err)
	}
	defer srv.Close()
	c := &client{base: "https://twin.invalid", token: token, http: handlerDoer{srv.Handler()}}
	wait := func(ctx context.Context, d time.Duration) error {
		_, err := c.expect(ctx, "advance the twin's clock", "POST clock", http.MethodPost, "/osupgrade/clock", map[string]string{"advance": d.String()}, http.StatusOK)
		return err
	}
	if err := p.prepare(ctx, c, wait, bootTime); err != nil {
		return Outcome{}, fmt.Errorf("twin: %w", err)
	}
	if err := p.start(ctx, c); err != nil {
		return Outcome{}, fmt.Errorf("twin: %w", err)
	}
	if err := awaitEnd(ctx, c, p.Set, wait, nil); err != nil {
		return Outcome{}, fmt.Errorf("twin: %w", err)
	}
	return p.outcome(ctx, c, wait)
}

package docker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// removeNetwork against an engine that refuses in each known way: attached
// endpoints are force-disconnected, a refusal for endpoints is retried, a
// stale endpoint with nothing attached is told apart from other errors.
func TestRemoveNetwork(t *testing.T) {
	cases := []struct {
		name        string
		refusals    int    // DELETEs refused before one succeeds (-1: all)
		refusal     string // the engine's message
		status      int
		attached    string // inspect's Containers
		wantErr     string // "" none; "stale": a staleNetworkError
		wantDeletes int
		wantDisconn bool
	}{
		{"removed", 0, "", 0, `{}`, "", 1, false},
		{"gone already", -1, "network n not found", http.StatusNotFound, `{}`, "", 1, false},
		{"an endpoint released late", 2, "error while removing network: network n id x has active endpoints", http.StatusForbidden, `{}`, "", 3, false},
		{"an endpoint still attached", 1, "error while removing network: network n id x has active endpoints", http.StatusForbidden, `{"c1":{"Name":"osupgrade-r-web-0"}}`, "", 2, true},
		{"a stale endpoint", -1, "error while removing network: network n id x has active endpoints", http.StatusForbidden, `{}`, "stale", 3, false},
		{"another refusal", -1, "permission denied", http.StatusForbidden, `{}`, "permission denied", 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			deletes, disconnects := 0, 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == http.MethodDelete:
					deletes++
					if tc.refusals < 0 || deletes <= tc.refusals {
						w.WriteHeader(tc.status)
						_, _ = w.Write([]byte(`{"message":"` + tc.refusal + `"}`))
						return
					}
					w.WriteHeader(http.StatusNoContent)
				case strings.HasSuffix(r.URL.Path, "/disconnect"):
					disconnects++
					w.WriteHeader(http.StatusOK)
				default:
					_, _ = w.Write([]byte(`{"Id":"x","Name":"n","Containers":` + tc.attached + `}`))
				}
			}))
			defer srv.Close()
			cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithVersion("1.41"))
			if err != nil {
				t.Fatal(err)
			}
			err = removeNetwork(context.Background(), cli, "x", []time.Duration{time.Millisecond, time.Millisecond})
			var stale *staleNetworkError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr == "stale" && !errors.As(err, &stale):
				t.Fatalf("error %v, want a stale endpoint", err)
			case tc.wantErr != "" && tc.wantErr != "stale" && (err == nil || errors.As(err, &stale) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if deletes != tc.wantDeletes || (disconnects > 0) != tc.wantDisconn {
				t.Errorf("%d removals and %d disconnects, want %d and disconnects %v", deletes, disconnects, tc.wantDeletes, tc.wantDisconn)
			}
		})
	}
}

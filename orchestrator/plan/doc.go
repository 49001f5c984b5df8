// Package plan is the pure rollout planner: policy, observed instances and the
// rollout state so far go in, the next decision comes out.
//
// It must not do I/O, start goroutines, read the wall clock or use global
// randomness: time arrives as Observation.Now and the caller carries out every
// decision (the shape of etcd's raft RawNode). Every rule of SPEC.md's
// "The rollout" section lives here, once. A Rollout's state is its own:
// readers use its accessors (view.go), stores its Snapshot, and only tests
// replace a rule, per rollout, through Hooks.
package plan

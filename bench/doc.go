// Package bench measures rollout throughput: whole simulated rollouts at
// 10^3..10^6 instances, platform rollouts over fleets of up to 10,000
// scale sets against their lower bounds, serve's GET latency while 1,000
// sets roll, the planner's decision cost, and rollouts on Docker next to the
// engine's limit and Docker Swarm; and it computes the gonum statistics and
// baseline comparison the benchmark report shows.
//
// It must not assert timings: targets are read from its numbers by people and
// CI summaries, never checked by tests. Docker peers label everything they
// create and remove only what they labelled.
package bench

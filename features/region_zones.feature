Feature: R-AVAIL-1 across a region: one platform update is never in two zones of a region at once
  Within a region, R-AVAIL-1 binds every scale set taking the same platform
  update: while any set of the region upgrades one zone to a version, no set
  of that region upgrades another zone to it. Sets of a region may share a
  zone at once.

  How a set without zones counts: a regional set without zones is in no
  availability zone. Its upgrades neither hold a zone nor wait for one; it
  rolls out beside the zonal sets of its region as if they were not there.
  (docs/rules.md R-AVAIL-1 speaks of instances in different availability
  zones; an instance of a set without zones is in none.)

  Rollouts the user starts (R-TRIG-3) keep R-AVAIL-1 within their set only,
  and their set's own zone order.

  The region's zones go in one order for every set (R-ORDER-1 over the
  region): the zones in the order its automatic sets list them, sets taken
  by name. The region goes zone by zone; a set keeps its zone between two of
  its batches, and while any set waits for another zone the current zone
  takes no new set, so a waiting set goes once the sets in the current zone
  have finished there: it is never starved.

  With the defaults (features/README.md) every set of these scenarios starts
  its rollout when the new version is published, at 4h, and a batch takes
  35 s. Each zonal set has one update domain and batches of one instance, so
  a set of 3N instances over zones "1", "2" and "3" upgrades N instances in
  each zone: the larger set is still in zone "1" when the smaller one would
  move on to zone "2".

  @R-AVAIL-1
  Scenario: R-AVAIL-1 two zonal sets of one region never upgrade two zones to the new version at once
    Given a scale set "a" of 6 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a scale set "b" of 3 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a new image version is published
    When the scenario runs
    Then the rollout of "a" completes
    And the rollout of "b" completes
    And the rollout of "a" was started by the platform
    And the rollout of "b" was started by the platform
    And invariant I-5 holds
    And no two zones of region "eastus" were upgraded to one platform version at the same time
    And "b" in zone "1" was upgraded while "a" was upgrading zone "1"
    And all instances of "a" run the new version
    And all instances of "b" run the new version

  @R-AVAIL-1
  Scenario: R-AVAIL-1 three zonal sets of one region never upgrade two zones to the new version at once
    Given a scale set "a" of 9 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a scale set "b" of 6 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a scale set "c" of 3 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a new image version is published
    When the scenario runs
    Then the rollout of "a" completes
    And the rollout of "b" completes
    And the rollout of "c" completes
    And invariant I-5 holds
    And no two zones of region "eastus" were upgraded to one platform version at the same time
    And "c" in zone "1" was upgraded while "a" was upgrading zone "1"
    And all instances of "a" run the new version
    And all instances of "b" run the new version
    And all instances of "c" run the new version

  @R-AVAIL-1
  Scenario: R-AVAIL-1 a set without zones is in no zone: it rolls out beside the zonal sets of its region
    Given a scale set "a" of 6 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a scale set "b" of 3 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a scale set "flat" of 10 instances
    And a new image version is published
    When the scenario runs
    Then the rollout of "a" completes
    And the rollout of "b" completes
    And the rollout of "flat" completes
    And the rollout of "flat" started at 4h
    And invariant I-5 holds
    And no two zones of region "eastus" were upgraded to one platform version at the same time
    And "flat" was upgraded while "a" was upgrading zone "1"
    And "flat" was upgraded while "a" was upgrading zone "2"
    And all instances of "flat" run the new version

  @R-AVAIL-1 @R-TRIG-3
  Scenario: R-AVAIL-1 rollouts the user starts keep zones apart within their set only
    Given a scale set "a" of 6 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And automatic OS upgrades are off
    And a scale set "b" of 3 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And automatic OS upgrades are off
    And a new image version is published
    And the user starts an OS upgrade of "a" at 5h
    And the user starts an OS upgrade of "b" at 5h
    When the scenario runs
    Then the rollout of "a" completes
    And the rollout of "b" completes
    And the rollout of "b" was started by the user
    And "b" in zone "2" was upgraded while "a" was upgrading zone "1"
    And no two zones were upgraded at the same time
    And invariant I-5 holds
    And all instances of "b" run the new version

  @R-AVAIL-1 @R-ORDER-1
  Scenario: R-AVAIL-1 the region's zones go in one order for every set: its sets' listed order, sets by name
    Given a scale set "a" of 6 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And a scale set "b" of 3 instances
    And it spans zones "3", "2" and "1"
    And it has 1 update domain
    And a new image version is published
    When the scenario runs
    Then the rollout of "a" completes
    And the rollout of "b" completes
    And the batches of "a" went through zones "1", "2" and "3" in that order
    And the batches of "b" went through zones "1", "2" and "3" in that order
    And invariant I-5 holds
    And no two zones of region "eastus" were upgraded to one platform version at the same time
    And all instances of "b" run the new version

  @R-AVAIL-1 @R-ORDER-1 @R-TRIG-3
  Scenario: R-AVAIL-1 a rollout the user starts keeps its set's own zone order
    Given a scale set "a" of 6 instances
    And it spans zones "1", "2" and "3"
    And it has 1 update domain
    And automatic OS upgrades are off
    And a scale set "b" of 3 instances
    And it spans zones "3", "2" and "1"
    And it has 1 update domain
    And automatic OS upgrades are off
    And a new image version is published
    And the user starts an OS upgrade of "b" at 5h
    When the scenario runs
    Then the rollout of "b" completes
    And the rollout of "b" was started by the user
    And the batches of "b" went through zones "3", "2" and "1" in that order


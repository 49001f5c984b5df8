Feature: Invariants a rollout must never break
  Whatever goes wrong in the fleet, these hold, checked from the fleet's side
  (what the instances did), not from the orchestrator's own bookkeeping.

  @I-1
  Scenario Outline: I-1 never more instances upgrading at once than a batch allows (<n> instances)
    Given a scale set of <n> instances
    And it spans zones "1" and "2"
    And maintenance makes instances 1 and 3 unhealthy for 1m when batch 2 starts
    And a new image version is published
    When the scenario runs
    Then invariant I-1 holds

    Examples:
      | n    |
      | 5    |
      | 10   |
      | 101  |
      | 1000 |

  @I-1 @R-ROLLBACK-1
  Scenario: I-1 rollbacks do not widen a batch
    Given a scale set of 20 instances
    And a new image version is published
    And the new version never becomes healthy
    When the scenario runs
    Then invariant I-1 holds
    And 4 instances were rolled back

  @I-2
  Scenario Outline: I-2 no rollout and no batch starts against the health gates (<case>)
    Given a scale set of 25 instances
    And <fault>
    And a new image version is published
    When the scenario runs
    Then invariant I-2 holds
    And no batch started after the rollout stopped

    Examples:
      | case             | fault                                                                    |
      | pre-check        | 6 instances are unhealthy when the rollout is due                        |
      | upgraded         | instances 0 and 5 stay unhealthy                                         |
      | whole set        | maintenance makes instances 4, 9, 14, 19, 24 and 3 unhealthy for 2m when batch 2 starts |

  @I-3
  Scenario Outline: I-3 every instance ends on the target or its previous version (<case>)
    Given a scale set of 10 instances
    And automatic rollback is <rollback>
    And a new image version is published
    And the new version <fault>
    When the scenario runs
    Then invariant I-3 holds

    Examples:
      | case                   | rollback | fault                 |
      | rolled back            | on       | never becomes healthy |
      | left failed            | off      | never becomes healthy |
      | crashing, rolled back  | on       | crashes on boot       |

  @I-3 @I-4
  Scenario: I-3 a cancelled rollout loses no instance
    Given a scale set of 10 instances
    And a new image version is published
    And the user cancels the rollout when batch 3 starts
    When the scenario runs
    Then invariant I-3 holds
    And invariant I-4 holds

  @I-4 @docker
  Scenario: I-4 data disks are intact after a rollout, byte for byte
    Given a scale set of 10 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    When the scenario runs
    Then the rollout completes
    And invariant I-4 holds

  @I-4
  Scenario: I-4 data disks are intact after rollbacks and crashes
    Given a scale set of 10 instances
    And instances 3 and 4 go down at 1h for 10m
    And a new image version is published
    And the new version crashes on boot
    When the scenario runs
    Then invariant I-4 holds
    And 2 instances were rolled back

  @I-5 @docker
  Scenario: I-5 zones and update domains are never mixed in a batch
    Given a scale set of 12 instances
    And it spans zones "1", "2" and "3"
    And it has 2 update domains
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    When the scenario runs
    Then the rollout completes
    And invariant I-5 holds

  @I-5
  Scenario Outline: I-5 zones and update domains are never mixed, whatever the layout (<n> instances, <zones>, <uds> update domains)
    Given a scale set of <n> instances
    And it spans zones <zones>
    And it has <uds> update domains
    And a new image version is published
    When the scenario runs
    Then invariant I-5 holds
    And no two zones were upgraded at the same time

    Examples:
      | n    | zones            | uds |
      | 7    | "1" and "2"      | 5   |
      | 100  | "1", "2" and "3" | 3   |
      | 1000 | "1", "2" and "3" | 20  |

  @I-6
  Scenario Outline: I-6 the history agrees with what the fleet did (<case>)
    Given a scale set of 10 instances
    And <setup>
    And a new image version is published
    When the scenario runs
    Then invariant I-6 holds

    Examples:
      | case      | setup                                              |
      | completed | automatic rollback is on                           |
      | cancelled | the user cancels the rollout when batch 2 starts   |
      | faulted   | instances 0 and 5 stay unhealthy                   |
      | refused   | 3 instances are unhealthy when the rollout is due  |

  @I-7 @docker
  Scenario: I-7 a scale set outside the rollout is not touched
    Given a scale set "web" of 10 instances
    And automatic OS upgrades are off
    And a scale set "legacy" of 5 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade of "web" at 1m
    When the scenario runs
    Then the rollout of "web" completes
    And scale set "legacy" was not touched
    And invariant I-7 holds

Feature: Platform rollouts across regions
  The platform rolls a new version out region by region, in phases. A phase
  starts only when the previous phase's instances upgraded successfully, and
  paired regions (eastus and westus, for example) are never in the same phase.

  @R-AVAIL-2
  Scenario: R-AVAIL-2 a paired region waits for its pair to complete
    Given a scale set "east" of 10 instances
    And its region is "eastus"
    And a scale set "west" of 10 instances
    And its region is "westus"
    And a new image version is published
    When the scenario runs
    Then the rollout of "east" completes
    And the rollout of "west" completes
    And the rollout of "east" started at 4h
    And the rollout of "west" started when the rollout of "east" ended
    And all instances of "west" run the new version

  @R-AVAIL-2
  Scenario: R-AVAIL-2 regions that are not paired share a phase
    Given a scale set "east" of 10 instances
    And its region is "eastus"
    And a scale set "east2" of 10 instances
    And its region is "eastus2"
    And a new image version is published
    When the scenario runs
    Then the rollout of "east" started at 4h
    And the rollout of "east2" started at 4h
    And the rollout of "east2" completes

  @R-AVAIL-2
  Scenario: R-AVAIL-2 a phase that does not upgrade successfully holds the next one back
    Given a scale set "east" of 10 instances
    And its region is "eastus"
    And a scale set "west" of 10 instances
    And its region is "westus"
    And a new image version is published
    And the new version never becomes healthy
    When the scenario runs
    Then the rollout of "east" is faulted
    And the rollout of "west" never starts
    And no instance of "west" runs the new version

Feature: When a rollout starts
  A scale set becomes eligible for a new OS image version when the version is
  published in its region (platform images) or replicated to it and not
  excluded from latest (gallery images). The platform then starts the rollout
  on its schedule; a user can start one at any time, or cancel one.

  Unless a step says otherwise, a new version is published 4 hours into the
  scenario: after the one-time delay of the first rollout, so the platform
  starts it the moment it is published.

  @R-TRIG-1
  Scenario: R-TRIG-1 a platform version published in the region makes the scale set eligible
    Given a scale set of 10 instances
    And a new image version is published at 4h
    When the scenario runs
    Then the rollout completes
    And the rollout started at 4h
    And the rollout was started by the platform
    And all instances run the new version

  @R-TRIG-1
  Scenario: R-TRIG-1 a gallery version that is not replicated to the region is never rolled out
    Given a scale set of 10 instances
    And its image is "gallery:contoso/web"
    And its running version is "1.0.0"
    And gallery version "1.0.1" is replicated only to "westus" at 4h
    When the scenario runs
    Then the rollout never starts
    And 10 instances run version "1.0.0"

  @R-TRIG-1
  Scenario: R-TRIG-1 a gallery version rolls out once it is replicated to the region
    Given a scale set of 10 instances
    And its image is "gallery:contoso/web"
    And its running version is "1.0.0"
    And gallery version "1.0.1" is replicated only to "westus" at 4h
    And gallery version "1.0.1" is replicated only to "westus" and "eastus" at 1d
    When the scenario runs
    Then the rollout completes
    And the rollout started at 1d
    And 10 instances run version "1.0.1"

  @R-TRIG-1
  Scenario: R-TRIG-1 a gallery version excluded from latest is never rolled out
    Given a scale set of 10 instances
    And its image is "gallery:contoso/web"
    And its running version is "1.0.0"
    And gallery version "1.0.1" is published excluded from latest at 4h
    When the scenario runs
    Then the rollout never starts
    And 10 instances run version "1.0.0"

  @R-TRIG-1
  Scenario: R-TRIG-1 the newest version not excluded from latest is the one rolled out
    Given a scale set of 10 instances
    And its image is "gallery:contoso/web"
    And its running version is "1.0.0"
    And a new image version "1.0.1" is published at 4h
    And gallery version "1.0.2" is published excluded from latest at 4h
    When the scenario runs
    Then the rollout completes
    And 10 instances run version "1.0.1"
    And 0 instances run version "1.0.2"

  @R-TRIG-2
  Scenario Outline: R-TRIG-2 the first rollout after enabling starts within 3 hours (scale set <name>)
    Given a scale set "<name>" of 10 instances
    And a new image version is published at 0s
    When the scenario runs
    Then the rollout completes
    And the rollout started within 3h of the start

    Examples:
      | name    |
      | web     |
      | api     |
      | batch   |
      | cache   |
      | edge    |

  @R-TRIG-2
  Scenario Outline: R-TRIG-2 later rollouts start 30 to 60 minutes after the version becomes eligible (scale set <name>)
    Given a scale set "<name>" of 10 instances
    And a new image version "18.04.202102010" is published at 4h
    And a new image version "18.04.202103010" is published at 2d
    When the scenario runs
    Then 2 rollouts ran
    And the rollout completes
    And the rollout to "18.04.202102010" started between 0s and 0s after it was published
    And the rollout to "18.04.202103010" started between 30m and 60m after it was published

    Examples:
      | name  |
      | web   |
      | api   |
      | batch |

  @R-TRIG-3 @R-TRIG-5
  Scenario: R-TRIG-3 a manual trigger starts now, even with automatic upgrades off
    Given a scale set of 10 instances
    And automatic OS upgrades are off
    And a new image version is published at 1h
    And the user starts an OS upgrade at 2h
    When the scenario runs
    Then the rollout completes
    And the rollout started at 2h
    And the rollout was started by the user
    And all instances run the new version

  @R-TRIG-3 @R-TRIG-5
  Scenario: R-TRIG-3 a manual trigger skips the instances already on the latest version
    Given a scale set of 10 instances
    And a new image version is published at 4h
    And the user cancels the rollout when batch 2 starts
    And the user starts an OS upgrade at 1d
    When the scenario runs
    Then 2 rollouts ran
    And the rollout completes
    And the rollout was started by the user
    And 3 batches ran
    And batch 1 upgraded instances 2 and 7
    And all instances run the new version

  @R-TRIG-3 @R-ROLLBACK-1
  Scenario: R-TRIG-3 a manual rollout never rolls back
    Given a scale set of 10 instances
    And automatic OS upgrades are off
    And a new image version is published at 1h
    And the new version never becomes healthy
    And the user starts an OS upgrade at 2h
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And 0 instances were rolled back
    And instances 0 and 5 run version "18.04.202102010"
    And history entry 1 counts 0 rolled back and 0 failed rollbacks

  @R-TRIG-4
  Scenario Outline: R-TRIG-4 cancelling during batch <k> lets that batch finish and starts no other
    Given a scale set of 10 instances
    And a new image version is published
    And the user cancels the rollout when batch <k> starts
    When the scenario runs
    Then the rollout is cancelled
    And <k> batches ran
    And <upgraded> instances run the new version
    And every instance is healthy
    And no batch started after the rollout stopped

    Examples:
      | k | upgraded |
      | 1 | 2        |
      | 2 | 4        |
      | 4 | 8        |

  @R-TRIG-4 @docker
  Scenario: R-TRIG-4 a user-started rollout can be cancelled mid-batch too
    Given a scale set of 10 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    And the user cancels the rollout when batch 2 starts
    When the scenario runs
    Then the rollout is cancelled
    And 2 batches ran
    And 4 instances run the new version

  @R-TRIG-5
  Scenario: R-TRIG-5 the platform does not retry a faulted version; a newer version starts the next rollout
    Given a scale set of 10 instances
    And a new image version "18.04.202102010" is published at 4h
    And the new version never becomes healthy
    And a new image version "18.04.202103010" is published at 2d
    When the scenario runs
    Then 2 rollouts ran
    And history entry 2 is "Faulted", started by Platform, targeting version "18.04.202102010"
    And history entry 1 is "Completed", started by Platform, targeting version "18.04.202103010"
    And all instances run the new version

  @R-TRIG-5
  Scenario: R-TRIG-5 the platform does not retry a cancelled version
    Given a scale set of 10 instances
    And a new image version is published
    And the user cancels the rollout when batch 1 starts
    When the scenario runs
    Then 1 rollout ran
    And the rollout is cancelled
    And 2 instances run the new version

Feature: What can be read back
  osUpgradeHistory returns the last 5 upgrade attempts of the last 2 months,
  newest first, in Azure's shape. rollingUpgrades/latest shows the rollout in
  progress or the last one. The image's version list shows what is published.

  Background:
    Given a scale set of 10 instances

  @R-HIST-1
  Scenario: R-HIST-1 an entry carries Azure's fields
    Given a new image version is published
    When the scenario runs
    Then the upgrade history lists 1 entry, newest first
    And every history entry has runningStatus.code, runningStatus.startTime, runningStatus.completedTime, progress.successfulInstanceCount, progress.failedInstanceCount, progress.inProgressInstanceCount, progress.pendingInstanceCount, startedBy, targetImageReference.publisher, targetImageReference.offer, targetImageReference.sku, targetImageReference.version, rollbackInfo.successfullyRolledbackInstanceCount and rollbackInfo.failedRolledbackInstanceCount
    And history entry 1 is "Completed", started by Platform, targeting version "18.04.202102010"
    And history entry 1 counts 10 successful, 0 failed, 0 in progress and 0 pending instances
    And history entry 1 counts 0 rolled back and 0 failed rollbacks

  @R-HIST-1
  Scenario: R-HIST-1 a faulted attempt counts its failures and rollbacks
    Given a new image version is published
    And the new version never becomes healthy
    When the scenario runs
    Then history entry 1 is "Faulted", started by Platform, targeting version "18.04.202102010"
    And history entry 1 counts 0 successful, 2 failed, 0 in progress and 8 pending instances
    And history entry 1 counts 2 rolled back and 0 failed rollbacks
    And history entry 1 has the error "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"

  @R-HIST-1
  Scenario: R-HIST-1 the history keeps the last 5 attempts, newest first
    Given a new image version "18.04.202102010" is published at 4h
    And a new image version "18.04.202103010" is published at 1d
    And a new image version "18.04.202104010" is published at 2d
    And a new image version "18.04.202105010" is published at 3d
    And a new image version "18.04.202106010" is published at 4d
    And a new image version "18.04.202107010" is published at 5d
    And a new image version "18.04.202108010" is published at 6d
    When the scenario runs
    Then 7 rollouts ran
    And the upgrade history lists 5 entries, newest first
    And history entry 1 is "Completed", started by Platform, targeting version "18.04.202108010"
    And history entry 5 is "Completed", started by Platform, targeting version "18.04.202104010"

  @R-HIST-1
  Scenario Outline: R-HIST-1 the history keeps 2 months (second version <later> after the first)
    Given a new image version "18.04.202102010" is published at 4h
    And a new image version "18.04.202103010" is published at <later>
    When the scenario runs
    Then 2 rollouts ran
    And the upgrade history lists <entries> entries, newest first
    And history entry 1 is "Completed", started by Platform, targeting version "18.04.202103010"

    Examples:
      | later | entries |
      | 30d   | 2       |
      | 60d   | 2       |
      | 62d   | 1       |

  @R-HIST-2
  Scenario: R-HIST-2 the version list shows every published version
    Given a new image version "18.04.202102010" is published at 4h
    And a new image version "18.04.202103010" is published at 1d
    When the scenario runs
    Then the image's version list is "18.04.202101010", "18.04.202102010" and "18.04.202103010"

  @R-HIST-3
  Scenario: R-HIST-3 rollingUpgrades/latest shows the rollout in progress
    Given a new image version is published
    When the scenario runs until 4h1m
    Then the latest rollout is "RollingForward" with 2 instances in progress
    And history entry 1 counts 2 successful, 0 failed, 2 in progress and 6 pending instances

  @R-HIST-3
  Scenario: R-HIST-3 rollingUpgrades/latest shows the last rollout once it is over
    Given a new image version is published
    When the scenario runs
    Then the latest rollout is "Completed" with 0 instances in progress

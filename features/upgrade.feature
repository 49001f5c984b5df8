Feature: Upgrading an instance
  Upgrading an instance gives it a new OS disk from the target image, then
  re-applies every extension and the custom data of the current scale set
  model. Data disks are kept, byte for byte, through upgrades and rollbacks.

  @R-UPG-1 @docker
  Scenario: R-UPG-1 data disks survive the upgrade
    Given a scale set of 10 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    When the scenario runs
    Then the rollout completes
    And all instances run the new version
    And every data disk is intact

  @R-UPG-1
  Scenario: R-UPG-1 data disks survive a rollback
    Given a scale set of 10 instances
    And a new image version is published
    And the new version never becomes healthy
    When the scenario runs
    Then the rollout is faulted
    And 2 instances were rolled back
    And every data disk is intact

  @R-UPG-1 @R-CRED-1
  Scenario: R-UPG-1 the upgrade runs the extensions of the current model
    Given a scale set of 10 instances
    And it has an extension "fetch-app"
    And the SAS token of extension "fetch-app" expires at 3h
    And the SAS token of extension "fetch-app" is renewed at 2h
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And every instance is healthy

# Scenarios in osupgrade's step vocabulary (`osupgrade features --steps` lists
# every step). Run them with
#   osupgrade features features/                  (simulated fleet, seconds)
#   osupgrade features --fleet docker features/   (containers)
Feature: our scale set takes new OS images safely

  Scenario: five instances take the new image, one batch at a time
    Given a scale set of 5 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    When the scenario runs
    Then the rollout completes
    And 5 batches ran
    And every batch held at most 1 instance
    And all instances run the new version
    And every data disk is intact

  Scenario: a rollout the user cancels stops after the batch in progress
    Given a scale set of 5 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    And the user cancels the rollout when batch 2 starts
    When the scenario runs
    Then the rollout is cancelled
    And 2 batches ran
    And 2 instances run the new version

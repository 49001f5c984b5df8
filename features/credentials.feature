Feature: Expired credentials
  An extension that downloads its payload with a SAS token (or uses a
  certificate or secret) fails when the token has expired, and so does the
  upgrade: the first batch is left failed. The recovery: issue a new token,
  update the extension in the model, then update every instance, the failed
  ones included; they come back healthy.

  Background:
    Given a scale set of 10 instances
    And it has an extension "fetch-app"

  @R-CRED-1
  Scenario: R-CRED-1 an expired SAS token fails the first batch
    Given the SAS token of extension "fetch-app" expires at 3h
    And a new image version is published
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And instances 0 and 5 are in a failed state
    And instances 1, 2, 3, 4, 6, 7, 8 and 9 are healthy

  @R-CRED-1
  Scenario: R-CRED-1 renewing the token and updating every instance brings the failed batch back
    Given the SAS token of extension "fetch-app" expires at 3h
    And a new image version is published
    And the SAS token of extension "fetch-app" is renewed at 5h
    And the user updates every instance to the latest model at 5h1m
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And every instance is healthy
    And every data disk is intact

  @R-CRED-1 @R-TRIG-5
  Scenario: R-CRED-1 after the recovery, a user-started rollout completes
    Given the SAS token of extension "fetch-app" expires at 3h
    And a new image version is published
    And the SAS token of extension "fetch-app" is renewed at 5h
    And the user updates every instance to the latest model at 5h1m
    And the user starts an OS upgrade at 6h
    When the scenario runs
    Then 2 rollouts ran
    And the rollout completes
    And all instances run the new version
    And every instance is healthy

  @R-CRED-1
  Scenario: R-CRED-1 a token expiring in the middle of a rollout fails the batch in progress
    Given the SAS token of extension "fetch-app" expires when batch 2 starts
    And a new image version is published
    When the scenario runs
    Then the rollout stops after batch 2 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And instances 1 and 6 are in a failed state
    And instances 0 and 5 run version "18.04.202102010"

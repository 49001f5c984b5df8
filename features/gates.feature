Feature: The 20% health gates
  A rollout does not start when more than 20% of the instances are unhealthy.
  It stops (Faulted) when more than 20% of the instances upgraded so far are
  unhealthy, and it checks the whole set again before every batch: when more
  than 20% are unhealthy (concurrent maintenance, for example), it stops at
  the end of the batch in progress. "More than 20% of N" is 5 × x > N.

  @R-PRE-1
  Scenario Outline: R-PRE-1 <unhealthy> of <n> instances unhealthy before the first batch
    Given a scale set of <n> instances
    And <unhealthy> instances are unhealthy when the rollout is due
    And a new image version is published
    When the scenario runs
    Then the pre-check <verdict>

    Examples:
      | n    | unhealthy | verdict                |
      | 1    | 0         | lets the rollout start |
      | 1    | 1         | refuses the rollout    |
      | 2    | 0         | lets the rollout start |
      | 2    | 1         | refuses the rollout    |
      | 5    | 1         | lets the rollout start |
      | 5    | 2         | refuses the rollout    |
      | 6    | 1         | lets the rollout start |
      | 6    | 2         | refuses the rollout    |
      | 9    | 1         | lets the rollout start |
      | 9    | 2         | refuses the rollout    |
      | 10   | 1         | lets the rollout start |
      | 10   | 2         | lets the rollout start |
      | 10   | 3         | refuses the rollout    |
      | 11   | 2         | lets the rollout start |
      | 11   | 3         | refuses the rollout    |
      | 14   | 2         | lets the rollout start |
      | 14   | 3         | refuses the rollout    |
      | 15   | 2         | lets the rollout start |
      | 15   | 3         | lets the rollout start |
      | 15   | 4         | refuses the rollout    |
      | 99   | 19        | lets the rollout start |
      | 99   | 20        | refuses the rollout    |
      | 100  | 19        | lets the rollout start |
      | 100  | 20        | lets the rollout start |
      | 100  | 21        | refuses the rollout    |
      | 101  | 20        | lets the rollout start |
      | 101  | 21        | refuses the rollout    |
      | 1000 | 199       | lets the rollout start |
      | 1000 | 200       | lets the rollout start |
      | 1000 | 201       | refuses the rollout    |

  @R-PRE-1
  Scenario Outline: R-PRE-1 hung instances count as unhealthy: their health is Unknown (<hung> of 10)
    Given a scale set of 10 instances
    And instances <ids> hang at 0s for 4h1m
    And a new image version is published
    When the scenario runs
    Then the pre-check <verdict>

    Examples:
      | hung | ids        | verdict                |
      | 2    | 8 and 9    | lets the rollout start |
      | 3    | 7, 8 and 9 | refuses the rollout    |

  @R-PRE-1
  Scenario: R-PRE-1 a refused rollout changes nothing and shows in the history
    Given a scale set of 10 instances
    And 3 instances are unhealthy when the rollout is due
    And a new image version is published
    When the scenario runs
    Then the rollout does not start
    And no instance runs the new version
    And history entry 1 is "Faulted", started by Platform, targeting version "18.04.202102010"
    And history entry 1 has the error "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade"

  @R-STOP-1
  Scenario Outline: R-STOP-1 upgraded instances <bad> stay unhealthy
    Given a scale set of 25 instances
    And instances <bad> stay unhealthy
    And a new image version is published
    When the scenario runs
    Then the rollout <outcome>

    Examples:
      | bad       | outcome                                                                                |
      | 24        | goes on after batch 1                                                                  |
      | 0         | goes on after batch 1                                                                  |
      | 0 and 5   | stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" |
      | 0 and 1   | goes on after batch 2                                                                  |
      | 0, 1 and 6 | stops after batch 2 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" |
      | 0, 1 and 2 | goes on after batch 3                                                                 |
      | 0, 1, 2 and 7 | stops after batch 3 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" |

  @R-STOP-2
  Scenario Outline: R-STOP-2 maintenance making <share> of the set unhealthy during batch <k>
    Given a scale set of 25 instances
    And maintenance makes instances <instances> unhealthy for 2m when batch <k> starts
    And a new image version is published
    When the scenario runs
    Then the rollout <outcome>
    And <upgraded> instances run the new version
    And no batch started after the rollout stopped

    Examples:
      | share    | k | instances                | outcome                                                                               | upgraded |
      | 4 of 25  | 1 | 4, 9, 14 and 19          | completes                                                                             | 25       |
      | 5 of 25  | 1 | 4, 9, 14, 19 and 24      | completes                                                                             | 25       |
      | 6 of 25  | 1 | 4, 9, 14, 19, 24 and 3   | stops after batch 1 with "MaxUnhealthyInstancePercentExceededInRollingUpgrade"        | 5        |
      | 5 of 25  | 2 | 4, 9, 14, 19 and 24      | completes                                                                             | 25       |
      | 6 of 25  | 2 | 4, 9, 14, 19, 24 and 3   | stops after batch 2 with "MaxUnhealthyInstancePercentExceededInRollingUpgrade"        | 10       |
      | 6 of 25  | 3 | 4, 9, 14, 19, 24 and 3   | stops after batch 3 with "MaxUnhealthyInstancePercentExceededInRollingUpgrade"        | 15       |
      | 6 of 25  | 4 | 4, 9, 14, 19, 24 and 2   | stops after batch 4 with "MaxUnhealthyInstancePercentExceededInRollingUpgrade"        | 20       |

  @R-STOP-2
  Scenario: R-STOP-2 instances going down for maintenance count as unhealthy too
    Given a scale set of 10 instances
    And instances 4, 9 and 8 go down at 4h0m10s for 10m
    And a new image version is published
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
    And every data disk is intact

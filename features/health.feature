Feature: Health after an upgrade, and rollback
  After upgrading a batch, the rollout waits up to 5 minutes for each of its
  instances to be healthy. With a load-balancer probe or the Application
  Health extension, healthy is what they report; without either, healthy
  means running with every extension provisioned. An instance that is not
  healthy 5 minutes after its upgrade gets its previous OS disk back, unless
  automatic rollback is off or a user started the rollout.

  @R-HEALTH-1
  Scenario Outline: R-HEALTH-1 an instance healthy <after> after its upgrade <verdict> the 5-minute wait
    Given a scale set of 10 instances
    And automatic rollback is off
    And upgraded instances report healthy <after> after their reimage
    And a new image version is published
    When the scenario runs
    Then the rollout <outcome>
    And <upgraded> instances run the new version

    Examples:
      | after  | verdict    | outcome                                                                              | upgraded |
      | 4m59s  | makes      | completes                                                                            | 10       |
      | 5m     | makes      | completes                                                                            | 10       |
      | 5m1s   | misses     | stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" | 2        |

  @R-HEALTH-1 @R-ROLLBACK-1
  Scenario Outline: R-HEALTH-1 a slow first boot ending at <healthy at> <verdict> the wait, and the rollback boots normally
    Given a scale set of 10 instances
    And instances 0 and 5 boot <delay> slower until 4h1m
    And a new image version is published
    When the scenario runs
    Then the rollout <outcome>
    And <rolled back> instances were rolled back
    And instances 0 and 5 are healthy

    Examples:
      | healthy at | delay | verdict | outcome                                                                              | rolled back |
      | 4m59s      | 4m24s | makes   | completes                                                                            | 0           |
      | 5m1s       | 4m26s | misses  | stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" | 2           |

  @R-HEALTH-1
  Scenario: R-HEALTH-1 with a load-balancer probe, the probe's answer decides
    Given a scale set of 10 instances
    And its health monitoring is "load-balancer probe"
    And a new image version is published
    And the new version never becomes healthy
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And 2 instances were rolled back

  @R-HEALTH-2
  Scenario: R-HEALTH-2 without a probe or the extension, an app reporting unhealthy does not count
    Given a scale set of 10 instances
    And its Service Fabric durability is "Silver"
    And its health monitoring is "none"
    And instances 0, 5, 1 and 6 stay unhealthy
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And all instances run the new version

  @R-HEALTH-2
  Scenario Outline: R-HEALTH-2 without a probe or the extension, a version that <fails how> is unhealthy
    Given a scale set of 10 instances
    And its Service Fabric durability is "Silver"
    And its health monitoring is "none"
    And a new image version is published
    And the new version <fails how>
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And 2 instances were rolled back
    And instances 0 and 5 run version "18.04.202101010"
    And instances 0 and 5 are healthy

    Examples:
      | fails how            |
      | fails its extensions |
      | crashes on boot      |

  @R-ROLLBACK-1
  Scenario Outline: R-ROLLBACK-1 an instance not healthy after 5 minutes <gets> its previous OS disk (rollback <rollback>)
    Given a scale set of 10 instances
    And automatic rollback is <rollback>
    And a new image version is published
    And the new version never becomes healthy
    When the scenario runs
    Then the rollout stops after batch 1 with "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    And <rolled back> instances were rolled back
    And instances 0 and 5 run version "<version>"
    And history entry 1 counts <rolled back> rolled back and 0 failed rollbacks
    And history entry 1 counts 0 successful, 2 failed, 0 in progress and 8 pending instances

    Examples:
      | rollback | gets         | rolled back | version         |
      | on       | gets back    | 2           | 18.04.202101010 |
      | off      | does not get | 0           | 18.04.202102010 |

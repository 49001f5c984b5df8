Feature: Batches
  A rollout upgrades a scale set in batches of at most 20% of its instances,
  and at least one (sets of 5 or fewer go one instance at a time). A batch
  never mixes availability zones or update domains: zones go one after the
  other in the order they are listed, update domains ascending within a zone,
  instance ids ascending within an update domain.

  Unless a step says otherwise, a scale set has 5 update domains and no zones,
  and instance i lives in update domain i mod 5.

  @R-BATCH-1
  Scenario Outline: R-BATCH-1 a scale set of <n> instances goes in batches of at most <size>
    Given a scale set of <n> instances
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And every batch held at most <size> instances
    And the largest batch held <size> instances
    And <batches> batches ran
    And all instances run the new version

    Examples:
      | n    | size | batches |
      | 1    | 1    | 1       |
      | 2    | 1    | 2       |
      | 5    | 1    | 5       |
      | 6    | 1    | 6       |
      | 9    | 1    | 9       |
      | 10   | 2    | 5       |
      | 11   | 2    | 6       |
      | 14   | 2    | 9       |
      | 15   | 3    | 5       |
      | 99   | 19   | 9       |
      | 100  | 20   | 5       |
      | 101  | 20   | 6       |
      | 1000 | 200  | 5       |

  @R-BATCH-1 @docker
  Scenario: R-BATCH-1 a user-started rollout of 10 instances goes 2 at a time
    Given a scale set of 10 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    When the scenario runs
    Then the rollout completes
    And every batch held at most 2 instances
    And 5 batches ran
    And all instances run the new version

  @R-BATCH-2
  Scenario Outline: R-BATCH-2 a large update domain is split, and batches stop at update-domain boundaries (<n> instances, <uds> update domains)
    Given a scale set of <n> instances
    And it has <uds> update domains
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And <batches> batches ran
    And update domain <ud> was split into <split> batches
    And no batch mixed zones or update domains

    Examples:
      | n   | uds | batches | ud | split |
      | 10  | 1   | 5       | 0  | 5     |
      | 20  | 2   | 6       | 0  | 3     |
      | 10  | 3   | 6       | 1  | 2     |
      | 12  | 5   | 7       | 0  | 2     |
      | 100 | 3   | 6       | 2  | 2     |
      | 9   | 20  | 9       | 8  | 1     |

  @R-ORDER-1
  Scenario: R-ORDER-1 without zones, update domains go in ascending order, ids ascending within each
    Given a scale set of 10 instances
    And a new image version is published
    When the scenario runs
    Then the update domains went in the order 0, 1, 2, 3 and 4
    And batch 1 upgraded instances 0 and 5
    And batch 5 upgraded instances 4 and 9

  @R-ORDER-1 @R-AVAIL-1
  Scenario: R-ORDER-1 zones go in the order they are listed
    Given a scale set of 9 instances
    And it spans zones "3", "1" and "2"
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And the batches went through zones "3", "1" and "2" in that order
    And batch 1 upgraded instance 0
    And batch 2 upgraded instance 3
    And batch 4 upgraded instance 1

  @R-ORDER-1
  Scenario Outline: R-ORDER-1 with prioritizeUnhealthyInstances, unhealthy instances go first (<priority>)
    Given a scale set of 10 instances
    And instance 7 is unhealthy when the rollout is due
    And <priority>
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And batch 1 upgraded instances <first batch>

    Examples:
      | priority                        | first batch |
      | unhealthy instances go first    | 7 and 2     |
      | unhealthy instances wait their turn | 0 and 5     |

  @R-ORDER-1 @R-AVAIL-1
  Scenario: R-ORDER-1 prioritizing unhealthy instances still never mixes zones or update domains
    Given a scale set of 15 instances
    And it spans zones "1", "2" and "3"
    And instance 14 is unhealthy when the rollout is due
    And unhealthy instances go first
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And batch 1 upgraded instance 14
    And the batches went through zones "3", "1" and "2" in that order
    And no batch mixed zones or update domains

  @R-AVAIL-1
  Scenario Outline: R-AVAIL-1 instances in different zones are never upgraded at the same time (<n> instances over <zones>)
    Given a scale set of <n> instances
    And it spans zones <zones>
    And a new image version is published
    When the scenario runs
    Then the rollout completes
    And no two zones were upgraded at the same time
    And no batch mixed zones or update domains
    And all instances run the new version

    Examples:
      | n    | zones               |
      | 30   | "1", "2" and "3"    |
      | 31   | "1", "2" and "3"    |
      | 100  | "1" and "2"         |
      | 1000 | "1", "2" and "3"    |

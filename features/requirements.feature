Feature: Requirements of automatic OS image upgrades
  When a scale set has automatic OS upgrades enabled, its model is checked on
  every create and update. A model that breaks a requirement gets a 400 error
  that names the rule and the property, and nothing is created or changed.

  Background:
    Given a scale set "web" of 10 instances

  @R-REQ-1
  Scenario Outline: R-REQ-1 the image version must float (<image>)
    Given its image is "<image>"
    And its running version is "<running>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | image                                            | running         | verdict                                  |
      | Canonical:UbuntuServer:18.04-LTS:latest          | 18.04.202101010 | accepted                                 |
      | Canonical:UbuntuServer:18.04-LTS:18.04.202101010 | 18.04.202101010 | rejected with a 400 error citing R-REQ-1 |
      | gallery:contoso/web                              | 1.0.0           | accepted                                 |
      | gallery:contoso/web:1.0.0                        | 1.0.0           | rejected with a 400 error citing R-REQ-1 |

  @R-REQ-1
  Scenario: R-REQ-1 requirements are not checked while automatic OS upgrades are off
    Given its image is "Canonical:UbuntuServer:18.04-LTS:18.04.202101010"
    And automatic OS upgrades are off
    When the scale set is created
    Then the scale set is accepted

  @R-REQ-2
  Scenario Outline: R-REQ-2 a scale set needs a health probe or the Application Health extension (<health>)
    Given its health monitoring is "<health>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | health                       | verdict                                  |
      | Application Health extension | accepted                                 |
      | load-balancer probe          | accepted                                 |
      | none                         | rejected with a 400 error citing R-REQ-2 |

  @R-REQ-2 @R-REQ-5
  Scenario Outline: R-REQ-2 Service Fabric needs no probe, except Bronze with stateless-only node types (<durability>, <health>)
    Given its Service Fabric durability is "<durability>"
    And its Service Fabric node types is "stateless only"
    And its health monitoring is "<health>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | durability | health              | verdict                                  |
      | Silver     | none                | accepted                                 |
      | Gold       | none                | accepted                                 |
      | Bronze     | load-balancer probe | accepted                                 |
      | Bronze     | none                | rejected with a 400 error citing R-REQ-2 |

  @R-REQ-3
  Scenario Outline: R-REQ-3 Compute API version 2018-10-01 or later (<api>)
    Given its API version is "<api>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | api        | verdict                                  |
      | 2017-12-01 | rejected with a 400 error citing R-REQ-3 |
      | 2018-06-01 | rejected with a 400 error citing R-REQ-3 |
      | 2018-10-01 | accepted                                 |
      | 2024-11-01 | accepted                                 |

  @R-REQ-4
  Scenario Outline: R-REQ-4 Windows with API 2019-03-01 or later must turn enableAutomaticUpdates off (<api>, <updates>)
    Given its OS is "windows"
    And its image is "MicrosoftWindowsServer:WindowsServer:2019-Datacenter:latest"
    And its running version is "17763.1.2101"
    And its API version is "<api>"
    And its enableAutomaticUpdates is "<updates>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | api        | updates | verdict                                  |
      | 2019-03-01 | true    | rejected with a 400 error citing R-REQ-4 |
      | 2019-03-01 | false   | accepted                                 |
      | 2024-11-01 | true    | rejected with a 400 error citing R-REQ-4 |
      | 2018-10-01 | true    | accepted                                 |

  @R-REQ-5
  Scenario Outline: R-REQ-5 Service Fabric durability, extension version and health (<durability>/<extension durability>, <version>, <nodes>, <health>)
    Given its Service Fabric durability is "<durability>"
    And its Service Fabric extension durability is "<extension durability>"
    And its Service Fabric extension version is "<version>"
    And its Service Fabric node types is "<nodes>"
    And its health monitoring is "<health>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | durability | extension durability | version | nodes          | health                       | verdict                                  |
      | Silver     | Silver               | 1.1     | stateful       | load-balancer probe          | accepted                                 |
      | Gold       | Gold                 | 1.2     | stateful       | load-balancer probe          | accepted                                 |
      | Bronze     | Bronze               | 1.1     | stateless only | load-balancer probe          | accepted                                 |
      | Bronze     | Bronze               | 1.1     | stateful       | load-balancer probe          | rejected with a 400 error citing R-REQ-5 |
      | Platinum   | Platinum             | 1.1     | stateful       | load-balancer probe          | rejected with a 400 error citing R-REQ-5 |
      | Silver     | Gold                 | 1.1     | stateful       | load-balancer probe          | rejected with a 400 error citing R-REQ-5 |
      | Silver     | Silver               | 1.0     | stateful       | load-balancer probe          | rejected with a 400 error citing R-REQ-5 |
      | Silver     | Silver               | 1.1     | stateful       | Application Health extension | rejected with a 400 error citing R-REQ-5 |

  @R-REQ-6
  Scenario Outline: R-REQ-6 platform images from the supported table, custom images through a gallery (<image>)
    Given its image is "<image>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | image                                                       | verdict                                  |
      | Canonical:UbuntuServer:16.04-LTS:latest                     | accepted                                 |
      | OpenLogic:CentOS:7.5:latest                                 | accepted                                 |
      | MicrosoftWindowsServer:WindowsServer:2016-Datacenter:latest | accepted                                 |
      | Canonical:UbuntuServer:20.04-LTS:latest                     | rejected with a 400 error citing R-REQ-6 |
      | contoso:custom-image:v1:latest                              | rejected with a 400 error citing R-REQ-6 |
      | gallery:contoso/custom-image                                | accepted                                 |

  @R-REQ-7
  Scenario Outline: R-REQ-7 with multiple placement groups the probe must be on a Standard load balancer (<groups>, <health>, <lb>)
    Given its placement groups is "<groups>"
    And its health monitoring is "<health>"
    And its load balancer SKU is "<lb>"
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | groups   | health                       | lb       | verdict                                  |
      | multiple | load-balancer probe          | Basic    | rejected with a 400 error citing R-REQ-7 |
      | multiple | load-balancer probe          | Standard | accepted                                 |
      | single   | load-balancer probe          | Basic    | accepted                                 |
      | multiple | Application Health extension | Basic    | accepted                                 |

  @R-REQ-8
  Scenario Outline: R-REQ-8 the image <property> of an existing scale set cannot change
    Given a new image version is published
    When the scenario runs
    And the user changes the image <property> to "<value>"
    Then the update is rejected with a 400 error citing R-REQ-8
    And the image <property> is still "<old>"

    Examples:
      | property  | value     | old          |
      | publisher | OpenLogic | Canonical    |
      | offer     | CentOS    | UbuntuServer |

  @R-REQ-8
  Scenario: R-REQ-8 an automatic OS upgrade never changes the SKU
    Given a new image version is published
    When the scenario runs
    Then the rollout completes
    And all instances run the new version
    And the image SKU is still "18.04-LTS"

  @R-REQ-9
  Scenario Outline: R-REQ-9 extension sequencing must name existing extensions and have no cycle (<case>)
    Given it has an extension "install-agent" that runs after <first after>
    And it has an extension "configure-app" that runs after <second after>
    When the scale set is created
    Then the scale set is <verdict>

    Examples:
      | case          | first after | second after    | verdict                                  |
      | a chain       | nothing     | "install-agent" | accepted                                 |
      | a cycle       | "configure-app" | "install-agent" | rejected with a 400 error citing R-REQ-9 |
      | a self-cycle  | "install-agent" | nothing     | rejected with a 400 error citing R-REQ-9 |
      | a missing one | "monitoring"    | nothing     | rejected with a 400 error citing R-REQ-9 |

  @validation
  Scenario Outline: a rolling upgrade policy or health setting out of Azure's range is refused (<setting> <value>)
    Given its <setting> is "<value>"
    When the scale set is created
    Then the scale set is rejected with a 400 error on "<property>"

    Examples:
      | setting                             | value | property                                                                          |
      | maxBatchInstancePercent             | 4     | properties.upgradePolicy.rollingUpgradePolicy.maxBatchInstancePercent             |
      | maxBatchInstancePercent             | 101   | properties.upgradePolicy.rollingUpgradePolicy.maxBatchInstancePercent             |
      | maxUnhealthyInstancePercent         | 4     | properties.upgradePolicy.rollingUpgradePolicy.maxUnhealthyInstancePercent         |
      | maxUnhealthyUpgradedInstancePercent | 101   | properties.upgradePolicy.rollingUpgradePolicy.maxUnhealthyUpgradedInstancePercent |
      | region                              | moon  | location                                                                          |
      | OS                                  | beos  | properties.virtualMachineProfile.storageProfile.osDisk.osType                     |
      | health probe interval               | 61    | properties.virtualMachineProfile.extensionProfile.extensions[ApplicationHealth].settings.intervalInSeconds |
      | health probe count                  | 25    | properties.virtualMachineProfile.extensionProfile.extensions[ApplicationHealth].settings.numberOfProbes    |
      | health probe protocol               | udp   | properties.virtualMachineProfile.extensionProfile.extensions[ApplicationHealth].settings.protocol          |

  @validation
  Scenario Outline: a malformed model is refused (<change>)
    Given <change>
    When the scale set is created
    Then the scale set is rejected with a 400 error on "<property>"

    Examples:
      | change                            | property                             |
      | it has 21 update domains          | properties.platformFaultDomainCount  |
      | it spans zones "1", "2" and "1"   | zones[2]                             |
      | its API version is "last-tuesday" | api-version                          |

"""Device drivers (one sub-package per kind); each implements ``agent.driver.Driver``."""

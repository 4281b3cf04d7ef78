"""The elevator simulator behind ``edge-agent simulate elevator`` (imports pymodbus)."""

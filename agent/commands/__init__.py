"""Sub-command groups of the ``edge-agent`` CLI, one module per feature area."""

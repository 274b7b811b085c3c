"""pytest plugin: the ``firework_sandbox`` fixture (filled in by the sandbox work)."""

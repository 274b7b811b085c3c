"""A local Firework API and S3 for demos and tests (filled in by the sandbox work)."""

"""``make demo``: the first thing a new user runs."""

from __future__ import annotations


def run_demo() -> int:
    """Start and stop the sandbox; the upload demo arrives with the upload flow."""
    from prefect_firework.sandbox import Sandbox

    with Sandbox() as sb:
        print(f"Firework sandbox up at {sb.base_url}")
    print("demo arrives with the upload flow")
    return 0

"""Tasks run for real: Prefect test server + the sandbox (root conftest) over HTTP."""


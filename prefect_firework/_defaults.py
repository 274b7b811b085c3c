"""The package's defaults, in one place: the API's address and scopes, the create budget, the
flows' concurrency, retry and lock timings. Settings (``FIREWORK_*``) and parameters override
them; the API's media limits live in ``prefect_firework.limits``."""

from __future__ import annotations

#: the Firework API
BASE_URL = "https://api.firework.com"
SCOPES = "videos:read videos:write"
#: seconds per API request, and per S3 transfer (uploads are large)
REQUEST_TIMEOUT = 30.0
S3_TIMEOUT = 300.0

#: the per-channel create budget: 20 videos per 5 minutes
CREATES_PER_WINDOW = 20
RATE_WINDOW = 300.0
#: the first pause after a 429 without Retry-After; it doubles up to ``RATE_WINDOW``
RATE_LIMIT_BACKOFF = 15.0
#: how long one task waits, in all, on 429s before giving up (not counted as retries)
RATE_LIMIT_BUDGET = 900.0

#: async imports: seconds between polls (the API asks for 5-10 s), and the deadline
POLL_INTERVAL = 5.0
IMPORT_TIMEOUT = 3600.0

#: threads in each flow's task runner; ``max_concurrency`` bounds the task runs in flight
FLOW_WORKERS = 16
MAX_CONCURRENCY = 8

#: exponential backoff of task retries (Prefect adds the jitter)
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
RETRY_JITTER = 0.5

#: a row's lock is a lease of this many seconds, refreshed by its live holder
LOCK_LEASE = 120.0
#: how long a row waits for a key another run holds before it fails
LOCK_TIMEOUT = 600.0

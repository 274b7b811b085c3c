"""The sandbox's engine: its state and clock, and the machinery behind the two services.

Shared by the API (``sandbox.api``) and the strict S3 front (``sandbox.s3``): the in-memory
world and its lock, ids, the seeded businesses, the ``Core`` every handler gets, video intake
(downloads, probing, storing), async import workers, the webhook sender, the route table type,
the request-log and fault middleware, and the servers on their threads. Nothing here is public.
"""

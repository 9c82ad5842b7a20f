"""TikTok API for Business access: the one async client, its errors and the process-wide rate limiter.

Modules: `client.py` (`TikTokClient`, the endpoints PartnerWatch calls; `run_sync`), `transport.py` (requests,
the token bucket, envelope, retries), `pagination.py`, `httpx_setup.py`, `endpoints.py` (what each endpoint
accepts), `envelope.py`, `errors.py`, `ratelimit.py` (`TokenBucket`), `shapes.py`, `labels.py`.

Owns: no table.
May import: nothing else of PartnerWatch.
"""

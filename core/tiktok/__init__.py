"""TikTok API for Business access: the one async client, its errors and the process-wide rate limiter."""

"""PartnerWatch benchmarks (`make bench` = `python -m benchmarks`): sync rate utilisation, store upsert,
Members query, CSV export and app start-up at the scale of issue 7, with results in `results.json` and
their explanation in `RESULTS.md`."""

BENCHMARKS = (
    "sync_rate_utilisation",
    "store_upsert",
    "members_query",
    "csv_export",
    "app_start",
    "access_review",
    "alerts_dispatch",
    "pg_store",
)

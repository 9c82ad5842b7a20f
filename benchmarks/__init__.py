"""PartnerWatch benchmarks (`make bench` = `python -m benchmarks`): sync rate utilisation, store upsert,
Members query, CSV export, app start-up, access review, memory bounds, alert dispatch, a year of history,
the cost of a click and the browser benchmarks (Chromium: browser latency, concurrent sessions), with
results in `results.json`, their explanation in `RESULTS.md` and a cost-curve plot per benchmark in `plots/`.

A benchmark is a module here named in `BENCHMARKS`. It either exposes `run(size) -> dict` (`size` is "full",
"quick" or "tiny"), and then runs once at that size; or it opts in to the cost curve (issue 17) by declaring
its scale parameter and three sizes per mode, and a function that runs at any one of them:

    from benchmarks.curves import Curve

    CURVE = Curve(
        "members",                                   # what n counts (the plot's x axis)
        full=(100_000, 1_000_000, 5_000_000),        # `make bench`
        quick=(10_000, 25_000, 100_000),             # `--quick`
        tiny=(60, 150, 600),                         # the smoke test (`--size tiny`)
        costs=("measured_s",),                       # figures of run_at(n) whose growth is fitted, first = the exponent
        unit="s",
        headline=1,                                  # the size whose figures are the headline (the issue's size)
    )

    def run_at(n: int) -> dict: ...                  # the usual figures (value, unit, target, ...) at n

`run_at(n, size)` (a parameter named `size`) is also given the mode, for what does not follow from n (how many
repetitions, the sizes of what is held fixed along the curve, e.g. the members behind 1, 3 and 10 sessions).

The runner calls `run_at` once per size, each in its own process, keeps the headline size's figures at the
top level of the benchmark's results.json entry, adds `"curve"` (points, fitted exponents, plot path) and
draws `plots/<name>.png`. `run(size)` is then not called and may be dropped. Costs should be raw measured
amounts at n (seconds for n rows, not seconds scaled to 1M rows), all in the curve's one unit.
"""

BENCHMARKS = (
    "sync_rate_utilisation",
    "store_upsert",
    "members_query",
    "csv_export",
    "app_start",
    "access_review",
    "memory_bounds",
    "alerts_dispatch",
    "year_of_history",
    "click_cost",
    "browser_latency",
    "concurrent_sessions",
    "pg_store",
)

BROWSER_BENCHMARKS = ("browser_latency", "concurrent_sessions")  # these need Chromium (/usr/bin/chromium)
# a benchmark whose module is named otherwise (benchmarks/<module>.py)
MODULES = {"year_of_history": "history"}

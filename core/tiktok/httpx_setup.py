"""httpx as the TikTok client needs it, set up once when the client is imported: the query string (which may carry
the app secret) stripped from httpx's request log lines, sniffio recorded as absent, the transport imported."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import httpx


class _StripQueryFilter(logging.Filter):
    """Drop the query string (which may carry the app secret) from httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _install_log_filter() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _StripQueryFilter) for f in httpx_log.filters):
        httpx_log.addFilter(_StripQueryFilter())


def _mark_sniffio_absent() -> None:
    """httpcore runs `import sniffio` each time it sets up a lock (several times per request) and falls back
    to asyncio when that fails; uninstalled, every failed import searches `sys.path` again (a measurable share
    of each request's CPU, see benchmarks/RESULTS.md). Recording the absence makes the import fail at once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


# httpx imports its transport (httpcore, h11, httpcore's anyio backend) on the first request. When that
# first request was the OAuth callback's, in a worker thread while Streamlit's rerun briefly changed
# `sys.path`, the import failed ("No module named 'httpcore'", issue 12). Import them with the client.
TRANSPORT_MODULES = ("httpcore", "h11", "httpcore._backends.anyio", "httpcore._backends.auto")


def _import_transport() -> None:
    for name in TRANSPORT_MODULES:
        importlib.import_module(name)


def prepare() -> None:
    """Set httpx up for the client (idempotent); transport.py calls it when it is imported."""
    _install_log_filter()
    _mark_sniffio_absent()
    _import_transport()

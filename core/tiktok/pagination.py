"""TikTok's pagination: 1-based `page` and `page_size`, `data.page_info`, and when a listing ends.

A listing stops on `page >= total_page`, an empty `list`, or the page count implied by the first page's
`total_number`, whichever comes first. `list_all` requests up to `window` pages ahead once the length is
known, and assembles them in page order; `iter_pages` reads one page at a time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

from core.tiktok.errors import TransportError
from core.tiktok.shapes import JSONObject

log = logging.getLogger(__name__)

MAX_PAGES = 10_000  # absolute guard when a server reports no total_number
PAGE_WINDOW = 6  # pages of one listing in flight at once once its length is known (the token bucket sets the rate)

GetPage = Callable[[int], Coroutine[Any, Any, JSONObject]]  # page number → the envelope's `data`


async def iter_pages(get_page: GetPage, path: str, page_size: int) -> AsyncIterator[list[JSONObject]]:
    """Yield each non-empty page's `list` from page 1 to the last, one request at a time."""
    page, cap = 1, MAX_PAGES
    while True:
        data = await get_page(page)
        items = _page_items(data, path)
        if items:
            yield items
        info = _page_info(data)
        if page == 1:
            cap = _page_cap(info, page_size)
        if not items or _last_page(info, page, cap, path):
            return
        page += 1


async def list_all(get_page: GetPage, path: str, page_size: int, window: int) -> list[JSONObject]:
    """Every item of every page, in page order: the pages `iter_pages` would read.

    Once a page tells how many there are (`total_page`, else page 1's `total_number`), up to `window` of the
    following pages are requested at once; pages are still read in order with `iter_pages`' stop rules, so a
    page requested past the point where they stop (a listing that shrank mid-way) is discarded, and a listing
    that grows is followed up to page 1's `total_number`.
    """
    ahead: dict[int, asyncio.Task[JSONObject]] = {}
    collected: list[JSONObject] = []
    page, cap = 1, MAX_PAGES
    try:
        while True:
            pending = ahead.pop(page, None)
            data = await (pending or get_page(page))
            items = _page_items(data, path)
            collected.extend(items)
            info = _page_info(data)
            if page == 1:
                cap = _page_cap(info, page_size)
            if not items or _last_page(info, page, cap, path):
                return collected
            page += 1
            for later in range(page, min(page + window, _known_end(info, page, cap) + 1)):
                if later not in ahead:
                    ahead[later] = asyncio.create_task(get_page(later))
    finally:
        await _discard(ahead.values())


def _page_items(data: JSONObject, path: str) -> list[JSONObject]:
    """A page's `list` (empty when absent); TransportError (retried) when it is not a list."""
    items = data.get("list")
    if items is None:
        return []
    if not isinstance(items, list):
        raise TransportError(f"malformed page: list is a {type(items).__name__}", path)
    return items


def _page_info(data: JSONObject) -> JSONObject:
    info = data.get("page_info")
    return info if isinstance(info, dict) else {}


def _page_cap(info: JSONObject, page_size: int) -> int:
    total_number = _as_int(info.get("total_number"))
    if total_number is None or total_number < 0:
        return MAX_PAGES
    return min(MAX_PAGES, max(1, math.ceil(total_number / page_size)))


def _known_end(info: JSONObject, next_page: int, cap: int) -> int:
    """The last page worth requesting ahead: the latest `total_page`, else the cap from `total_number`;
    only `next_page` when neither is known (an unknown length is read one page at a time)."""
    total_page = _as_int(info.get("total_page"))
    if total_page is not None:
        return min(cap, total_page)
    return cap if cap < MAX_PAGES else next_page


def _last_page(info: JSONObject, page: int, cap: int, path: str) -> bool:
    total_page = _as_int(info.get("total_page"))
    if total_page is not None and page >= total_page:
        return True
    if page >= cap:
        log.warning(
            "TikTok %s: stopping at page %d, the count implied by total_number (total_page %s)",
            path,
            page,
            total_page,
        )
        return True
    return False


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _discard(tasks: Iterable[asyncio.Task[JSONObject]]) -> None:
    """Cancel pages requested ahead that are not needed, and collect their outcomes (errors included)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

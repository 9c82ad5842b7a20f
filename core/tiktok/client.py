"""TikTokClient: the project's one client of the TikTok API for Business (async, httpx), and `run_sync`.

`async with TikTokClient(config, limiter) as client:` opens one connection pool. Requests, the token bucket,
the envelope and retries are `transport.py`; listings are read page by page with `pagination.py`'s rules
(`list_all`: up to `page_window` pages in flight once the length is known). The typed helpers (`get_bcs`,
`get_partners`, …) check what each endpoint accepts (`endpoints.py`) and each listed item's shape
(`shapes.py`), raising `ResponseShapeError`, not retried, for a missing id or a field of the wrong type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.tiktok import pagination, shapes
from core.tiktok.endpoints import ENDPOINTS
from core.tiktok.shapes import JSONObject
from core.tiktok.transport import Transport

T = TypeVar("T")

MAX_PAGE_SIZE = 50
MEMBER_PAGE_SIZE = 20


class TikTokClient(Transport):
    """Async TikTok API client; use as `async with TikTokClient(config, limiter) as client: ...`."""

    async def iter_pages(
        self, path: str, params: Mapping[str, Any], token: str, *, page_size: int
    ) -> AsyncIterator[list[JSONObject]]:
        """Yield each non-empty page's `list` from page 1 to the last, one request at a time (a `page` in
        params is ignored)."""
        async for items in pagination.iter_pages(self._pages(path, params, token, page_size), path, page_size):
            yield items

    async def list_all(self, path: str, params: Mapping[str, Any], token: str, *, page_size: int) -> list[JSONObject]:
        """Every item of every page, in page order (`pagination.list_all`: `page_window` pages in flight)."""
        get_page = self._pages(path, params, token, page_size)
        return await pagination.list_all(get_page, path, page_size, self.page_window)

    def _pages(
        self, path: str, params: Mapping[str, Any], token: str, page_size: int
    ) -> Callable[[int], Coroutine[Any, Any, JSONObject]]:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")

        async def get_page(page: int) -> JSONObject:
            return await self.get(path, {**params, "page": page, "page_size": page_size}, token)

        return get_page

    async def get_bcs(self, token: str) -> list[JSONObject]:
        """`bc/get/`: the BCs the token's user can access (items carry `bc_info`, `user_role`)."""
        items = await self.list_all("bc/get/", {}, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items("bc/get/", items, shapes.BC)

    async def get_partners(self, token: str, bc_id: str) -> list[JSONObject]:
        """`bc/partner/get/`: the partners of `bc_id` (`bc_id`, `bc_name`); needs a BC admin."""
        items = await self.list_all("bc/partner/get/", {"bc_id": str(bc_id)}, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items("bc/partner/get/", items, shapes.PARTNER)

    async def get_partner_assets(
        self, token: str, bc_id: str, partner_id: str, asset_type: str, share_type: str
    ) -> list[JSONObject]:
        """`bc/partner/asset/get/`: assets shared with us (SHARED) or by us (SHARING) with the partner; only the
        asset types its definition accepts (ADVERTISER, CATALOG, DOMAIN)."""
        path = "bc/partner/asset/get/"
        ENDPOINTS[path].check(asset_type=asset_type, share_type=share_type)
        params = {
            "bc_id": str(bc_id),
            "partner_id": str(partner_id),
            "asset_type": asset_type,
            "share_type": share_type,
        }
        items = await self.list_all(path, params, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.PARTNER_ASSET)

    async def get_members(self, token: str, bc_id: str, filtering: JSONObject | None = None) -> list[JSONObject]:
        """`bc/member/get/`: members and pending invitees of `bc_id`; needs a BC admin."""
        ENDPOINTS["bc/member/get/"].check(filtering=filtering)
        params = {"bc_id": str(bc_id), "filtering": filtering or None}
        items = await self.list_all("bc/member/get/", params, token, page_size=MEMBER_PAGE_SIZE)
        return shapes.check_items("bc/member/get/", items, shapes.MEMBER)

    async def get_asset_members(self, token: str, bc_id: str, asset_type: str, asset_id: str) -> list[JSONObject]:
        """`bc/asset/member/get/`: members with access to one asset (`advertiser_role`/`catalog_role`); only
        ADVERTISER, CATALOG and LEAD assets."""
        path = "bc/asset/member/get/"
        ENDPOINTS[path].check(asset_type=asset_type)
        params = {"bc_id": str(bc_id), "asset_type": asset_type, "asset_id": str(asset_id)}
        items = await self.list_all(path, params, token, page_size=MEMBER_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.ASSET_MEMBER)

    async def get_own_assets(self, token: str, bc_id: str, asset_type: str) -> list[JSONObject]:
        """`bc/asset/admin/get/` with `relation_type` OWNER_BC: the assets `bc_id` owns (needs a BC admin)."""
        path, filtering = "bc/asset/admin/get/", {"relation_type": "OWNER_BC"}
        ENDPOINTS[path].check(asset_type=asset_type, filtering=filtering)
        params = {"bc_id": str(bc_id), "asset_type": asset_type, "filtering": filtering}
        items = await self.list_all(path, params, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.PARTNER_ASSET)

    async def get_asset_partners(self, token: str, bc_id: str, asset_type: str, asset_id: str) -> list[JSONObject]:
        """`bc/asset/partner/get/`: the partners (`bc_id`, `bc_name`) one asset of `bc_id` is shared with."""
        path = "bc/asset/partner/get/"
        ENDPOINTS[path].check(asset_type=asset_type)
        params = {"bc_id": str(bc_id), "asset_type": asset_type, "asset_id": str(asset_id)}
        items = await self.list_all(path, params, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.PARTNER)

    async def get_user_info(self, token: str) -> JSONObject:
        """`user/info/`: the token's TikTok for Business user (`display_name`, masked `email`, `core_user_id`)."""
        data = await self.get("user/info/", {}, token)
        return data if isinstance(data, dict) else {}


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code (route handlers, CLI).

    Without a running loop in this thread it uses `asyncio.run`; inside one (a sync helper called from
    async code) it runs the coroutine on a fresh loop in a helper thread and blocks until it is done.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiktok-run-sync") as pool:
        return pool.submit(asyncio.run, coro).result()

"""Member sync of one onboarded partner, with that partner's token (part of Check for updates).

1. Fetch (async, before any write): every page of `bc/member/get/` once per `relation_status`, and for
   each of your assets shared with the partner (share type SHARING) of a type `bc/asset/member/get/`
   serves (ADVERTISER, CATALOG, LEAD) every page of it on the partner's BC, which says which members reach
   it and with what role. Members' reach over the other types has no endpoint (a known limit).
2. Apply (all or nothing per partner; partners whose writes queue up share one transaction and one set of
   statements, see `GroupWriter`): diff the fetched members against the stored
   ones, keyed by (partner BC id, user_id or lower(e-mail)); an invitee who joins (e-mail key → user_id
   key) keeps its row and history. New members get `first_seen`, everyone seen gets `last_seen`, those
   gone get `removed_at`; every difference becomes a `member_changes` row of the task. The diff runs in
   Arrow (the snapshot as Arrow tables, joined with the stored rows read from DuckDB); the tests hold it to
   the same diff in plain Python (`tests/support/reference_plan.py`). Only rows that differ are written, in
   place (UPDATE ... FROM the changed rows, INSERT of new keys; no delete + re-insert), with each member's
   reach (asset count, text, admin flag); everyone still current gets `last_seen` from one UPDATE.

The mass-removal safeguard (`settings_kv` key `sync.mass_removal_threshold_pct`, default 20) raises
`SyncHalted` before anything of the partner is written when a sync would remove more than that share of its
current members, so nothing of it is applied. Any failure leaves the partner's stored data as it was and
records the partner's connection state: `reconnect_required` for a rejected token, `safeguard_halted` for the
safeguard (its message says how many would go and how to accept the removal), else `sync_failed`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable

from core.accounts import connection, partners, tokens
from core.services import Services
from core.store.cursor import Cursor
from core.sync import partner_state
from core.sync.errors import MemberSyncError, SyncHalted
from core.sync.group_commit import write_snapshot
from core.sync.member_tables import Snapshot, member_key
from core.tasks.jobs import Counts, JobHandle
from core.tiktok.client import TikTokClient
from core.tiktok.endpoints import ASSET_MEMBER_GET, RELATION_STATUSES
from core.tiktok.errors import TikTokError, TokenRejectedError
from core.tiktok.shapes import JSONObject

log = logging.getLogger(__name__)


CALL_CONCURRENCY = 4  # per partner; the app-wide token bucket still bounds the total rate


def applies_to(partner: partners.Partner) -> bool:
    """Whether Check for updates syncs this partner's members (onboarded, or onboarded and last failed)."""
    return partner.token_id is not None and partner.connection in connection.SYNCABLE


async def sync_partner(
    services: Services,
    client: TikTokClient,
    job: JobHandle,
    partner: partners.Partner,
    shared_assets: list[JSONObject],
    *,
    task_id: int,
    also_write: Callable[[Cursor], None] | None = None,
) -> Counts:
    """Fetch, then apply all or nothing (with `also_write`, e.g. the partner's assets); returns counts.

    Raises TikTokError or MemberSyncError after recording the partner's connection state.
    """
    try:
        snapshot = await fetch(services, client, partner, shared_assets, job)
        # In a worker thread: the other partners' requests keep flowing while this one is written.
        return await asyncio.to_thread(write_snapshot, services.store, snapshot, partner.name, task_id, also_write)
    except TokenRejectedError as exc:
        error = f"TikTok rejected the monitor account's token ({exc.code}): reconnect."
        partner_state.mark(
            services.store, partner.bc_id, partner_state.RECONNECT_REQUIRED, error=error, task_id=task_id
        )
        raise
    except SyncHalted as exc:
        partner_state.mark(
            services.store, partner.bc_id, partner_state.SAFEGUARD_HALTED, error=str(exc), task_id=task_id
        )
        raise
    except (TikTokError, MemberSyncError) as exc:
        partner_state.mark(services.store, partner.bc_id, partner_state.SYNC_FAILED, error=str(exc), task_id=task_id)
        raise


async def fetch(
    services: Services,
    client: TikTokClient,
    partner: partners.Partner,
    shared_assets: Iterable[JSONObject],
    job: JobHandle,
) -> Snapshot:
    """Read the partner BC's members and who reaches each SHARING asset; nothing is written."""
    token = tokens.load(services.store, services.box, partner.token_id)
    if token is None:
        raise MemberSyncError(f"{partner.name} has no stored token: connect the partner again.")
    sharing = _unique_assets(
        a
        for a in shared_assets
        if a.get("share_type") == partners.SHARING and ASSET_MEMBER_GET.serves(str(a.get("asset_type")))
    )
    total, done = len(RELATION_STATUSES) + len(sharing), 0
    gate = asyncio.Semaphore(CALL_CONCURRENCY)

    async def call(listing: Callable[[], Awaitable[list[JSONObject]]]) -> list[JSONObject]:
        nonlocal done
        async with gate:
            result = await listing()
        done += 1
        await asyncio.to_thread(job.progress, done, total)  # off the loop: the write lock may be taken
        return result

    listings = await asyncio.gather(
        *(
            call(functools.partial(client.get_members, token, partner.bc_id, {"relation_status": s}))
            for s in RELATION_STATUSES
        ),
        *(
            call(functools.partial(client.get_asset_members, token, partner.bc_id, a["asset_type"], a["asset_id"]))
            for a in sharing
        ),
    )
    await asyncio.to_thread(job.progress, total, total, force=True)
    members = _members_by_key(item for listing in listings[: len(RELATION_STATUSES)] for item in listing)
    roles = [
        _asset_role(asset, item)
        for asset, listing in zip(sharing, listings[len(RELATION_STATUSES) :], strict=True)
        for item in listing
    ]
    return Snapshot(partner.bc_id, members, [r for r in roles if r["member_key"]])


def _unique_assets(assets: Iterable[JSONObject]) -> list[JSONObject]:
    seen: dict[tuple[str, str], JSONObject] = {}
    for asset in assets:
        seen.setdefault((str(asset["asset_id"]), str(asset["asset_type"])), asset)
    return list(seen.values())


def _text(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _members_by_key(items: Iterable[JSONObject]) -> dict[str, dict[str, str | None]]:
    members: dict[str, dict[str, str | None]] = {}
    for item in items:
        key = member_key(item)
        if key is None:
            log.warning("bc/member/get/ returned a member without user_id or user_email; skipped")
            continue
        ext = item.get("ext_user_role")
        if not isinstance(ext, dict):
            ext = {}
        members[key] = {
            "user_id": _text(item.get("user_id")),
            "user_name": _text(item.get("user_name")),
            "user_email": _text(item.get("user_email")),
            "user_role": _text(item.get("user_role")),
            "finance_role": _text(ext.get("finance_role")),
            "relation_status": _text(item.get("relation_status")),
        }
    return members


def _asset_role(asset: JSONObject, item: JSONObject) -> dict[str, str | None]:
    role = (
        item.get("advertiser_role")
        or item.get("catalog_role")
        or item.get("form_library_role")
        or item.get("asset_role")
    )
    return {
        "member_key": member_key(item),
        "asset_id": str(asset["asset_id"]),
        "asset_type": str(asset["asset_type"]),
        "asset_name": _text(asset.get("asset_name")),
        "asset_role": _text(role),
    }

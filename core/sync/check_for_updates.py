"""Check for updates: refresh the partner list, each partner's shared assets (and, per onboarded partner,
its members) as one background task with a nested job per partner.

Every write for one partner happens in one transaction after all of its reads succeeded, so a failing
job leaves what was synced before untouched.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from core.accounts import integration, partners, tokens
from core.alerts import dispatcher, outbox, triggers
from core.security import audit
from core.security.roles import Actor, require_admin
from core.services import Services
from core.store.cursor import Cursor
from core.sync import member_sync, partner_state
from core.sync.errors import MemberSyncError, SyncHalted
from core.tasks.jobs import (
    COMPLETED,
    HALTED,
    NOT_COMPLETED,
    RETRYING,
    RUNNING,
    TRIGGER_MANUAL,
    Counts,
    Enqueued,
    JobHandle,
    Request,
    TaskContext,
    TaskFailed,
    TaskHalted,
)
from core.tiktok.client import TikTokClient
from core.tiktok.endpoints import PARTNER_ASSET_GET, SHARING_BY_ASSET
from core.tiktok.errors import TikTokError, TokenRejectedError
from core.tiktok.shapes import JSONObject
from core.tiktok.transport import RetryEvent

DEDUPE_KEY = "check-for-updates"
TASK_KIND = "Check for updates"
PARTNER_PARAM = "partner_bc_id"  # the task's params: one partner's BC id, or None for all
PARTNER_CONCURRENCY = 8

# a partner job's outcome: counts, a failure, a safeguard halt, or a dead customer token
_Result: TypeAlias = Counts | str | SyncHalted | TokenRejectedError


def request(
    services: Services, *, actor: Actor, trigger: str = TRIGGER_MANUAL, partner_bc_id: str | None = None
) -> int:
    """Queue a Check for updates (or join the one already queued or running, from whichever process); a process
    that runs jobs claims it, this one or a worker."""
    require_admin(actor, "run Check for updates")
    target = "All partners"
    if partner_bc_id is not None:
        partner = partners.get(services.store, partner_bc_id)
        target = partner.name if partner else partner_bc_id
    serve(services)

    def audited(queued: Enqueued) -> None:
        audit.record(
            services.store,
            actor=actor.email,
            action="sync.request",
            target=target,
            outcome="already running" if queued.joined else "queued",
            detail=f"task #{queued.task_id}; trigger {trigger}",
        )

    wanted = Request(TASK_KIND, target, actor.email, trigger, {PARTNER_PARAM: partner_bc_id}, dedupe_key=DEDUPE_KEY)
    return services.runner.enqueue(wanted, with_it=audited).task_id


def serve(services: Services) -> None:
    """Let the process's runner run Check for updates tasks (it claims them only in a process that runs jobs)."""
    services.runner.handle(TASK_KIND, functools.partial(_run_claimed, services))


def _run_claimed(services: Services, ctx: TaskContext) -> Counts:
    task = ctx.task
    return _audited_run(services, task.params.get(PARTNER_PARAM), task.actor, task.target, ctx)


def _audited_run(services: Services, partner_bc_id: str | None, actor: str, target: str, ctx: TaskContext) -> Counts:
    """Run the task and write its outcome to the audit log (the runner records the task status)."""
    try:
        counts = _run(services, partner_bc_id, ctx)
    except Exception as exc:
        halted = isinstance(exc, TaskHalted)
        with services.store.write() as cur:
            audit.record(
                services.store,
                actor=actor,
                action="sync.finish",
                target=target,
                outcome="halted by the safeguard" if halted else "not completed",
                detail=f"task #{ctx.task_id}: {exc}",
            )
            if not halted:  # a halt has its own alert per partner
                outbox.record(
                    cur,
                    triggers.TASK_NOT_COMPLETED,
                    task_id=ctx.task_id,
                    partner_bc_id=None,
                    subject=target,
                    detail=str(exc),
                )
        raise
    finally:
        dispatcher.wake()
    audit.record(
        services.store,
        actor=actor,
        action="sync.finish",
        target=target,
        outcome="completed",
        detail=f"task #{ctx.task_id}: {counts.added} added, {counts.updated} updated, {counts.removed} removed",
    )
    return counts


def _run(services: Services, partner_bc_id: str | None, ctx: TaskContext) -> Counts:
    current = integration.get(services.store)
    if current is None or not current.bc_id:
        raise TaskFailed("Connect your company's TikTok Business Center first (Settings → Integration).")
    token = integration.access_token(services.store, services.box)
    if token is None:
        raise TaskFailed("The Business Center connection has no token: reconnect it in Settings.")
    return asyncio.run(_check(services, ctx, current.bc_id, token, partner_bc_id))


async def _check(services: Services, ctx: TaskContext, bc_id: str, token: str, partner_bc_id: str | None) -> Counts:
    def on_retry(event: RetryEvent) -> None:
        ctx.status(RETRYING, f"{event.error} (retry {event.attempt} in {event.delay_s:.1f} s)")

    async with services.client(on_retry=on_retry) as client:
        ctx.status(RUNNING)
        try:
            counts = Counts()
            if partner_bc_id is None:
                counts += await _sync_partner_list(services, client, ctx, bc_id, token)
            targets = _targets(services, partner_bc_id)
            ctx.add_total(len(targets))
            by_asset = await _sharing_by_asset(client, token, bc_id) if targets else {}
            results = await _gather_limited(
                [_sync_partner(services, client, ctx, bc_id, token, p, by_asset.get(p.bc_id, [])) for p in targets]
            )
            rejected = next((r for r in results if isinstance(r, TokenRejectedError)), None)
            if rejected is not None:
                raise rejected
        except TokenRejectedError as exc:
            integration.set_health(services.store, integration.RECONNECT_REQUIRED, str(exc))
            raise TaskFailed(
                f"TikTok rejected the Business Center connection ({exc.code}): reconnect it in Settings."
            ) from exc
        except TikTokError as exc:
            integration.set_health(services.store, integration.SYNC_FAILED, str(exc))
            raise TaskFailed(f"Could not read the partner list: {exc}") from exc
    failures = [r for r in results if isinstance(r, str)]
    halts = [str(r) for r in results if isinstance(r, SyncHalted)]
    for result in results:
        if isinstance(result, Counts):
            counts += result
    integration.set_health(services.store, integration.HEALTHY, None, synced=not failures)
    if failures:
        raise TaskFailed(
            f"{len(failures) + len(halts)} of {len(targets)} partners did not complete: " + "; ".join(failures + halts)
        )
    if halts:
        raise TaskHalted(f"{len(halts)} of {len(targets)} partners held back: " + "; ".join(halts))
    return counts


def _targets(services: Services, partner_bc_id: str | None) -> list[partners.Partner]:
    if partner_bc_id is None:
        return partners.all_current(services.store)
    partner = partners.get(services.store, partner_bc_id)
    if partner is None:
        raise TaskFailed(f"Partner {partner_bc_id} is not in the partner list: run Check for updates for all.")
    return [partner]


async def _gather_limited(coros: list[Awaitable[_Result]]) -> list[_Result]:
    gate = asyncio.Semaphore(PARTNER_CONCURRENCY)

    async def limited(coro: Awaitable[_Result]) -> _Result:
        async with gate:
            return await coro

    return await asyncio.gather(*(limited(c) for c in coros))


async def _sync_partner_list(
    services: Services, client: TikTokClient, ctx: TaskContext, bc_id: str, token: str
) -> Counts:
    job = ctx.job("Partner list", bc_id)
    job.running()
    try:
        listed = await client.get_partners(token, bc_id)
    except TikTokError as exc:
        job.fail(str(exc))
        raise
    now = datetime.now(UTC)
    with services.store.write() as cur:
        known = {r[0] for r in cur.execute("SELECT bc_id FROM partners WHERE removed_at IS NULL").fetchall()}
        baseline = not cur.execute("SELECT bc_id FROM partners LIMIT 1").fetchall()
        added, updated, removed = partners.apply_partner_list(cur, listed, now)
        if not baseline:  # the first partner list is the starting point, not news
            _record_new_partners(cur, listed, known, ctx.task_id)
    counts = Counts(added, updated, removed)
    job.complete(counts, detail=f"{len(listed)} partners listed by TikTok")
    return counts


def _record_new_partners(cur: Cursor, listed: list[dict[str, Any]], known: set[str], task_id: int) -> None:
    for item in listed:
        bc_id = str(item["bc_id"])
        if bc_id not in known:
            known.add(bc_id)
            name = str(item.get("bc_name") or bc_id)
            outbox.record(
                cur, triggers.NEW_PARTNER, task_id=task_id, partner_bc_id=bc_id, subject=name, detail="new partner"
            )


async def _sync_partner(
    services: Services,
    client: TikTokClient,
    ctx: TaskContext,
    bc_id: str,
    token: str,
    partner: partners.Partner,
    sharing_by_asset: list[JSONObject],
) -> _Result:
    """One partner's job; returns its counts, or a short failure description (already recorded).

    Its database work runs in worker threads: on the event loop it would wait for the write lock another
    partner's transaction holds, and stall every request in flight meanwhile."""
    job = await asyncio.to_thread(ctx.job, "Partner", partner.name or partner.bc_id)
    await asyncio.to_thread(job.running)
    try:
        shared = await _fetch_assets(client, token, bc_id, partner.bc_id, job) + sharing_by_asset
        write_assets = functools.partial(
            partners.replace_assets, partner_bc_id=partner.bc_id, assets=shared, now=datetime.now(UTC)
        )
        counts = Counts()
        refreshed = await asyncio.to_thread(partners.get, services.store, partner.bc_id) or partner
        if member_sync.applies_to(refreshed):  # assets and members in one transaction
            counts += await _partner_steps(services, client, ctx, job, refreshed, shared, write_assets)
        else:
            await asyncio.to_thread(_write_alone, services, write_assets)
    except (TikTokError, MemberSyncError) as exc:
        halted = isinstance(exc, SyncHalted)
        status = HALTED if halted else NOT_COMPLETED
        await asyncio.to_thread(_finish, ctx, functools.partial(job.fail, str(exc), status=status), running=False)
        if isinstance(exc, TokenRejectedError) and exc.path.startswith("bc/partner/"):
            return exc  # the customer token itself is dead: the task reports it once
        return SyncHalted(f"{partner.name}: {exc}") if halted else f"{partner.name}: {exc}"
    await asyncio.to_thread(
        _finish, ctx, functools.partial(job.complete, counts, f"{len(shared)} shared assets"), running=True
    )
    return counts


def _write_alone(services: Services, write: Callable[[Cursor], None]) -> None:
    with services.store.write() as cur:
        write(cur)


def _finish(ctx: TaskContext, record: Callable[[], None], *, running: bool) -> None:
    """Record a partner job's end (`job.complete` or `job.fail`), advance the task and, after a success,
    show it running again (it may have shown a retry)."""
    record()
    ctx.advance()
    if running:
        ctx.status(RUNNING)


async def _partner_steps(
    services: Services,
    client: TikTokClient,
    ctx: TaskContext,
    job: JobHandle,
    partner: partners.Partner,
    shared: list[JSONObject],
    write_assets: Callable[[Cursor], None],
) -> Counts:
    """An onboarded partner's own work, after checking its monitor token (`bc/get/`) still works. When TikTok
    rejects that token (40104/40105), the partner becomes `Reconnect required` and the job fails."""
    counts = Counts()
    try:
        await client.get_bcs(_partner_token(services, partner))
        counts += await member_sync.sync_partner(
            services, client, job, partner, shared, task_id=ctx.task_id, also_write=write_assets
        )
    except TokenRejectedError as exc:
        if exc.path.startswith("bc/get") or await _partner_token_rejected(services, client, partner):
            partner_state.mark(
                services.store,
                partner.bc_id,
                partner_state.RECONNECT_REQUIRED,
                error=f"TikTok rejected the monitor account's token ({exc.code}): reconnect it on the Connect page.",
                task_id=ctx.task_id,
            )
        raise
    return counts


def _partner_token(services: Services, partner: partners.Partner) -> str:
    token = tokens.load(services.store, services.box, partner.token_id)
    if token is None:
        raise TokenRejectedError(40105, "no stored token for this partner", path="bc/get/")
    return token


async def _partner_token_rejected(services: Services, client: TikTokClient, partner: partners.Partner) -> bool:
    """Whether the partner's own token is the one TikTok rejects (not the customer's)."""
    try:
        await client.get_bcs(_partner_token(services, partner))
    except TokenRejectedError:
        return True
    except TikTokError:
        return False
    return False


async def _fetch_assets(
    client: TikTokClient, token: str, bc_id: str, partner_id: str, job: JobHandle
) -> list[JSONObject]:
    """The asset types `bc/partner/asset/get/` serves (ADVERTISER, CATALOG, DOMAIN), shared either way with this
    partner (6 listings, run concurrently); the other types come from `_sharing_by_asset`."""
    combos = [(t, s) for t in PARTNER_ASSET_GET.asset_types for s in (partners.SHARING, partners.SHARED)]
    done = 0

    async def one(asset_type: str, share_type: str) -> list[JSONObject]:
        nonlocal done
        items = await client.get_partner_assets(token, bc_id, partner_id, asset_type, share_type)
        done += 1
        await asyncio.to_thread(job.progress, done, len(combos))
        return [
            {**item, "asset_type": item.get("asset_type") or asset_type, "share_type": share_type} for item in items
        ]

    listings = await asyncio.gather(*(one(t, s) for t, s in combos))
    await asyncio.to_thread(job.progress, len(combos), len(combos), force=True)
    return [item for listing in listings for item in listing]


async def _sharing_by_asset(client: TikTokClient, token: str, bc_id: str) -> dict[str, list[JSONObject]]:
    """partner BC id → the customer's own assets of the types `bc/partner/asset/get/` does not serve (LEAD,
    PIXEL, STOREFRONT, TIKTOK_SHOP, TT_ACCOUNT) shared with it, as SHARING items: each type's owned assets
    (`bc/asset/admin/get/`, OWNER_BC), then each asset's partners (`bc/asset/partner/get/`). Once per task.
    The SHARED direction of these types has no endpoint: a known limit (docs/ARCHITECTURE.md)."""
    owned = await asyncio.gather(*(client.get_own_assets(token, bc_id, t) for t in SHARING_BY_ASSET))
    assets = [
        {**item, "asset_type": item.get("asset_type") or asset_type}
        for asset_type, items in zip(SHARING_BY_ASSET, owned, strict=True)
        for item in items
    ]
    reached = await asyncio.gather(
        *(client.get_asset_partners(token, bc_id, a["asset_type"], a["asset_id"]) for a in assets)
    )
    by_partner: dict[str, list[JSONObject]] = {}
    for asset, holders in zip(assets, reached, strict=True):
        for holder in holders:
            by_partner.setdefault(str(holder["bc_id"]), []).append({**asset, "share_type": partners.SHARING})
    return by_partner


__all__ = ["COMPLETED", "DEDUPE_KEY", "request", "serve"]

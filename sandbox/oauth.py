"""Handlers of the OAuth routes: `oauth2/access_token/`, `oauth2/revoke_token/`, `oauth2/advertiser/get/`,
`user/info/` (the token's TikTok for Business user), and `advertiser/info/` (a stock client's connection
check).

Marketing API advertiser tokens never expire and come without refresh_token/expires_in (wire spec §1.3).
"""

from __future__ import annotations

import secrets
from typing import Any

from sandbox.call import Call
from sandbox.errors import APP_FORBIDDEN, INVALID_ACCESS_TOKEN, INVALID_PARTNER, PERMISSION_ERROR, ApiError, param_error
from sandbox.params import json_list, required
from sandbox.world import World

# INFERRED: the numeric permission scopes granted to the app (Read BC, BC member management, partner management).
SCOPE = [4, 5, 11]


def check_app(world: World, app_id: str, secret: str) -> None:
    """40113 for an unknown app, 40101 when the secret does not match it."""
    if app_id != world.app.app_id:
        raise ApiError(APP_FORBIDDEN)
    if not secrets.compare_digest(secret.encode(), world.app.app_secret.encode()):
        raise ApiError(INVALID_PARTNER)


def _body_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise param_error(name, "Missing data for required field.")
    return required({name: str(value)}, name)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "")
    return bool(value)


def access_token(call: Call) -> dict[str, Any]:
    """Exchanges a single-use auth_code for a long-term access token."""
    app_id, secret, code = (_body_field(call.body, n) for n in ("app_id", "secret", "auth_code"))
    check_app(call.world, app_id, secret)
    user_id = call.world.redeem_auth_code(app_id, code)
    data: dict[str, Any] = {"access_token": call.world.mint_token(user_id, app_id)}
    # return_advertiser_ids=false leaves the key out entirely (INFERRED from bububa's "skip the list").
    if _flag(call.body.get("return_advertiser_ids", True)):
        data["advertiser_ids"] = [a.asset_id for a in call.world.advertisers_of(user_id)]
    data["scope"] = list(SCOPE)
    return data


def revoke_token(call: Call) -> dict[str, Any]:
    """Revokes a token; answers the advertisers it could reach. No Access-Token header needed (INFERRED)."""
    app_id, secret, token = (_body_field(call.body, n) for n in ("app_id", "secret", "access_token"))
    check_app(call.world, app_id, secret)
    record = call.world.token(token)
    if record is None:
        raise ApiError(INVALID_ACCESS_TOKEN)
    if record.app_id != app_id:
        raise ApiError(APP_FORBIDDEN, "The app_id is inconsistent with the token's app information.")
    advertisers = [a.asset_id for a in call.world.advertisers_of(record.user_id)]
    call.world.revoke_token(token)
    return {"app_id": app_id, "advertiser_ids": advertisers}


def advertiser_get(call: Call) -> dict[str, Any]:
    """The advertisers the token can reach (not paginated)."""
    token = call.require_token()
    app_id, secret = required(call.query, "app_id"), required(call.query, "secret")
    check_app(call.world, app_id, secret)
    record = call.world.token(token)
    if record is None:
        raise ApiError(INVALID_ACCESS_TOKEN)
    if record.app_id != app_id:
        raise ApiError(APP_FORBIDDEN, "The app_id is inconsistent with the token's app information.")
    rows = call.world.advertisers_of(record.user_id)
    return {"list": [{"advertiser_id": a.asset_id, "advertiser_name": a.asset_name} for a in rows]}


def mask_email(email: str) -> str:
    """TikTok returns the user's e-mail masked (bububa `model/user/info.go`: "desensitised"); the exact
    mask is INFERRED from a public client's comment ("j***e@example.org"): first and last character kept."""
    local, at, domain = email.partition("@")
    if not at:
        return email
    masked = local[0] + "***" + local[-1] if len(local) > 1 else local + "***"
    return f"{masked}@{domain}"


def user_info(call: Call) -> dict[str, Any]:
    """The token's user: `display_name`, masked `email`, `core_user_id`, `create_time`, `avatar_url`."""
    user_id = call.user_id()
    name, email = call.world.account(user_id) or ("", "")
    return {
        "core_user_id": user_id,
        "display_name": name,
        "email": mask_email(email),
        "create_time": 1_700_000_000,
        "avatar_url": "",
    }


def advertiser_info(call: Call) -> dict[str, Any]:
    """`advertiser/info/`: one item per requested advertiser the token's user reaches; `fields` narrows each
    item. An advertiser outside the user's reach is 40001 (INFERRED). Item fields INFERRED (TikTok's
    definition names only `list`)."""
    user_id = call.user_id()
    wanted = json_list(call.query, "advertiser_ids") or []
    fields = json_list(call.query, "fields", optional=True)
    reachable = {a.asset_id: a for a in call.world.advertisers_of(user_id)}
    if not wanted or any(a not in reachable for a in wanted):
        raise ApiError(PERMISSION_ERROR) if wanted else param_error("advertiser_ids", "Must not be empty.")
    items = [_advertiser_info(reachable[a]) for a in dict.fromkeys(wanted)]
    return {"list": [{k: v for k, v in item.items() if k in fields} if fields else item for item in items]}


def _advertiser_info(asset: Any) -> dict[str, Any]:
    return {
        "advertiser_id": asset.asset_id,
        "name": asset.asset_name,
        "status": asset.advertiser_status,
        "advertiser_account_type": asset.advertiser_account_type,
    }

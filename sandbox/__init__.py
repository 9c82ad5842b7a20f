"""PartnerWatch sandbox: a local emulator of the TikTok API for Business v1.3 and its authorization portal.

Run alone: `python -m sandbox --port 9100 --seed 7 --partners 6 --members 40 --qps 10 --qpm 600
--latency-ms 0 --app-id 7100000000000000000 --app-secret sandbox-secret --redirect-uri URL [...]`.
In-process: `sandbox.server.SandboxServer(SandboxConfig(...)).start()` (daemon thread, port 0 = free port).
Tests: `sandbox.testing.obtain_auth_code(...)` drives the portal; `World.issue_token(email)` skips it.
Guide: docs/sandbox.md.

Layout: `world.py` (state, thread-safe: `world_state.py` the seeded world and its runtime records,
`world_auth.py` accounts, sessions, codes and tokens) + `generate.py` (seeded world) + `models.py` are pure Python;
the HTTP layer is `api.py` (dispatch, faults, rate limit) with `oauth.py`/`bc.py` handlers, `portal.py`
(+ `pages.py`), `control.py`, assembled by `app.create_app(world, config)`.

Emulated API (HTTP 200 JSON envelope `{code, message, request_id, data}`, header X-Tt-Logid; unknown
path or missing trailing slash: plain-text 404 "404 page not found"):

    POST /open_api/v1.3/oauth2/access_token/     {"app_id","secret","auth_code","return_advertiser_ids"?}
    POST /open_api/v1.3/oauth2/revoke_token/     {"app_id","secret","access_token"}
    GET  /open_api/v1.3/oauth2/advertiser/get/   ?app_id&secret            + Access-Token header
    GET  /open_api/v1.3/bc/get/                  ?bc_id&scene&filtering&page&page_size
    GET  /open_api/v1.3/bc/member/get/           ?bc_id&filtering&page&page_size (<= 20)   admin only
    GET  /open_api/v1.3/bc/partner/get/          ?bc_id&filtering&page&page_size           admin only
    GET  /open_api/v1.3/bc/partner/asset/get/    ?bc_id&partner_id&asset_type&share_type   admin only
    GET  /open_api/v1.3/bc/asset/get/            ?bc_id&asset_type&filtering
    GET  /open_api/v1.3/bc/asset/admin/get/      ?bc_id&asset_type&filtering               admin only
    GET  /open_api/v1.3/bc/asset/member/get/     ?bc_id&asset_type&asset_id (<= 20)        admin only

Portal: `GET /portal/auth?app_id&state&redirect_uri` (login page, then "App Authorization | TikTok For
Business" with Confirm/Cancel), `POST /portal/login`, `POST /portal/auth`, `GET /portal/logout?next=`.

Control API (JSON; `{"ok": true, ...}`, or 400/404/409 with `{"ok": false, "error"}`):

    POST /sandbox/control/members/add      {"bc_id","user_email","user_name"?,"user_role"?,"relation_status"?,
                                            "finance_role"?}
    POST /sandbox/control/members/remove   {"bc_id","user_id"|"user_email"}
    POST /sandbox/control/members/update   {"bc_id","user_id"|"user_email","user_role"?,"relation_status"?,
                                            "finance_role"? (null clears),"user_name"?}
    POST /sandbox/control/tokens/revoke    {"access_token"} | {"user_email"}
    POST /sandbox/control/faults           {"route": "bc/member/get/" | "*", "count"?: 1, and one of
                                            "code" (+"message"?) | "http_status" (500/504, non-JSON body) |
                                            "hang_seconds" | "malformed": true}
    GET  /sandbox/control/faults           pending faults;  POST /sandbox/control/faults/clear
    POST /sandbox/control/latency          {"ms"}   added to every API call (asyncio.sleep, calls overlap)
    POST /sandbox/control/ratelimit        {"qps","qpm"}
    POST /sandbox/control/reset            {}       world back to its seed; tokens, sessions, faults cleared
    GET  /sandbox/world                    the world as JSON (same seed, same bytes)
"""

"""The start-up check (live mode): every reason the app must not serve pages with its configuration, each naming
what to set, and the one message an operator reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.config.errors import ConfigError
from core.config.process_roles import ROLE_WEB, process_problems
from core.config.settings import CALLBACK_PATH, ROOT, Settings
from core.config.source import Source, load_source

AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
AUTH_CALLBACK_PATH = "/oauth2callback"  # Streamlit's own st.login callback route
MIN_COOKIE_SECRET = 32
_PLACEHOLDER = "replace-with"  # every example value in .streamlit/secrets.toml.example starts with it
_KEY_HINT = 'python -c "from core.security.crypto import SecretBox; print(SecretBox.generate_key())"'
_RANDOM_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def startup_problems(
    auth: Mapping[str, Any] | None,
    *,
    env: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
    root: Path | None = None,
) -> list[str]:
    """Every reason the app must not serve pages with this configuration, each naming what to set.

    `auth` is the `[auth]` section Streamlit's `st.login` reads (None when there is none). The sandbox needs
    nothing; the live mode needs sign-in, encryption keys and one consistent public URL. Either mode needs a
    process role a web app can have (`process_problems`).
    """
    root = Path(root) if root is not None else ROOT
    try:
        src = load_source(env, secrets_file, root)
    except ConfigError as exc:
        return exc.problems
    live = src.get("PW_TIKTOK_APP_ID", "tiktok.app_id") or src.get("PW_TIKTOK_APP_SECRET", "tiktok.app_secret")
    settings: Settings | None = None
    try:
        settings = Settings.load(env=src.env, secrets_file=secrets_file, root=root)
    except ConfigError as exc:
        found = exc.problems
    else:
        found = process_problems(settings, ROLE_WEB)
    if not live:
        return found
    public_url = settings.public_url if settings else None
    return [*found, *(_live_problems(src, settings) if settings else []), *_auth_problems(auth, public_url)]


def _live_problems(src: Source, settings: Settings) -> list[str]:
    found: list[str] = []
    if src.get("PW_PUBLIC_URL", "partnerwatch.public_url") is None:
        found.append(
            "PW_PUBLIC_URL (partnerwatch.public_url) is not set: the address people open PartnerWatch "
            "at, e.g. https://partnerwatch.example.com (sign-in and TikTok redirect back to it)"
        )
    if not settings.encryption_keys:
        found.append(
            "PW_ENCRYPTION_KEYS (partnerwatch.encryption_keys) is not set: TikTok tokens are stored "
            f"encrypted; generate a key with {_KEY_HINT}"
        )
    expected = settings.public_url + CALLBACK_PATH
    if settings.redirect_uri != expected:
        found.append(
            f"PW_REDIRECT_URI (tiktok.redirect_uri) is {settings.redirect_uri} but this app's TikTok "
            f"callback is {expected} (PW_PUBLIC_URL + {CALLBACK_PATH}); register and set that one"
        )
    for label, value in (
        ("PW_TIKTOK_APP_SECRET (tiktok.app_secret)", settings.app_secret),
        ("PW_API_TOKEN (partnerwatch.api_token)", settings.api_token or ""),
        *(("PW_ENCRYPTION_KEYS (partnerwatch.encryption_keys)", k) for k in settings.encryption_keys),
    ):
        if value.startswith(_PLACEHOLDER):
            found.append(f"{label} is still the example value from secrets.toml.example")
    return found


def _auth_problems(auth: Mapping[str, Any] | None, public_url: str | None) -> list[str]:
    if not auth:
        return [
            "[auth] is missing from .streamlit/secrets.toml: sign-in (st.login) needs "
            f"{', '.join(AUTH_KEYS)} (see .streamlit/secrets.toml.example)"
        ]
    found = [
        f"auth.{key} is not set in .streamlit/secrets.toml (st.login needs it)"
        for key in AUTH_KEYS
        if not str(auth.get(key) or "").strip()
    ]
    secret = str(auth.get("cookie_secret") or "")
    if secret and (len(secret) < MIN_COOKIE_SECRET or secret.startswith(_PLACEHOLDER)):
        found.append(
            f"auth.cookie_secret must be at least {MIN_COOKIE_SECRET} random characters (not the "
            f"example value): generate one with {_RANDOM_HINT}"
        )
    if str(auth.get("client_secret") or "").startswith(_PLACEHOLDER):
        found.append("auth.client_secret is still the example value from secrets.toml.example")
    metadata = str(auth.get("server_metadata_url") or "")
    if metadata and not metadata.startswith(("http://", "https://")):
        found.append(f"auth.server_metadata_url must be an http(s) URL, got {metadata!r}")
    redirect = str(auth.get("redirect_uri") or "")
    if redirect and public_url and redirect.rstrip("/") != public_url + AUTH_CALLBACK_PATH:
        found.append(
            f"auth.redirect_uri is {redirect} but sign-in returns to {public_url}{AUTH_CALLBACK_PATH} "
            f"(PW_PUBLIC_URL + {AUTH_CALLBACK_PATH}); set it and register it with the identity provider"
        )
    return found


def format_problems(problems: list[str]) -> str:
    """The one message an operator reads: every problem on its own line."""
    lines = [f"PartnerWatch cannot start: {len(problems)} configuration problem(s).", *(f"  - {p}" for p in problems)]
    return "\n".join([*lines, "Fix them (environment or .streamlit/secrets.toml) and start again."])

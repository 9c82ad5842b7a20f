"""Finding the running app: it writes where it listens to `data/app.url`; `/healthz` answering there means it holds
the database, so the CLI goes through its API (`backend.py`)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx

from core.config.settings import Settings

HEALTH = "/healthz"
APP_URL_FILE = "app.url"  # written by the running app under its data directory (ui/routes.py lifespan)


def record_app_url(data_dir: Path, url: str) -> Path:
    """The running app says where it listens, so the CLI finds it whatever port it was given."""
    path = Path(data_dir) / APP_URL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n", encoding="utf-8")
    return path


def forget_app_url(data_dir: Path, url: str) -> None:
    """On stop: remove the file if it still names this app (another instance may have replaced it)."""
    path = Path(data_dir) / APP_URL_FILE
    with contextlib.suppress(FileNotFoundError):
        if path.read_text(encoding="utf-8").strip() == url:
            path.unlink()


def app_urls(settings: Settings) -> list[str]:
    """Where the running app may answer: PW_APP_URL alone when set, else data/app.url, then the public URL."""
    if settings.app_url:
        return [settings.app_url]
    try:
        recorded = (settings.data_dir / APP_URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        recorded = ""
    return list(dict.fromkeys(url.rstrip("/") for url in (recorded, settings.public_url) if url))


def running_app_url(settings: Settings, timeout: float = 1.0) -> str | None:
    """The first of `app_urls` where PartnerWatch answers (then it holds the database), or None."""
    for url in app_urls(settings):
        try:
            response = httpx.get(url + HEALTH, timeout=timeout)
        except httpx.HTTPError:
            continue
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            return url
    return None

"""Fixtures of the sandbox tests: an API client and a `get`/`post` helper returning the parsed envelope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer

Get = Callable[..., dict[str, Any]]


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.api_base_url, timeout=10) as client:
        yield client


@pytest.fixture
def get(api: httpx.Client) -> Get:
    """get(route, token=None, **query) -> the JSON envelope; asserts the API's HTTP 200."""

    def call(route: str, token: str | None = None, **query: Any) -> dict[str, Any]:
        headers = {"Access-Token": token} if token else {}
        response = api.get(route, params={k: str(v) for k, v in query.items()}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    return call


@pytest.fixture
def admin_token(sandbox: SandboxServer) -> str:
    """A token of the customer BC's admin, admin@acme.example."""
    return sandbox.world.issue_token("admin@acme.example")

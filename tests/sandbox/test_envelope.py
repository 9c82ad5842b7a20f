"""The envelope, request IDs, headers, and the plain-text 404/405 of unknown paths and methods."""

from __future__ import annotations

import re

import pytest


def test_envelope_shape_and_logid_header(api, admin_token) -> None:
    response = api.get("bc/get/", headers={"Access-Token": admin_token})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["code", "message", "request_id", "data"]
    assert re.fullmatch(r"\d{14}[A-Z0-9]{18}", body["request_id"])
    assert response.headers["x-tt-logid"] == body["request_id"]
    assert "retry-after" not in response.headers


def test_errors_are_http_200_with_empty_data(get) -> None:
    body = get("bc/get/")
    assert (body["code"], body["data"]) == (40104, {})


def test_request_ids_are_unique(get) -> None:
    ids = [get("bc/get/")["request_id"] for _ in range(60)]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("path", ["bc/get", "bc/nothing/", "oauth2/access_token", "v1.2/bc/get/"])
def test_unknown_path_or_missing_slash_is_a_plain_404(api, path) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.text == "404 page not found"
    assert not response.headers["content-type"].startswith("application/json")


def test_paths_outside_the_api_are_plain_404(http) -> None:
    response = http.get("/nowhere")
    assert (response.status_code, response.text) == (404, "404 page not found")


def test_wrong_method_is_a_plain_405(api) -> None:
    assert api.post("bc/get/").status_code == 405
    assert api.get("oauth2/access_token/").status_code == 405

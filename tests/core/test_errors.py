"""Errors a person reads cross process boundaries intact (multiprocessing pickles them)."""

from __future__ import annotations

import pickle

import pytest

from core.errors import InvalidInput, UserError
from core.store.errors import DatabaseRefused, DatabaseUnavailable, OutOfMemory


@pytest.mark.parametrize(
    "error",
    [
        OutOfMemory(112, writing=True),
        DatabaseUnavailable(5),
        DatabaseRefused('role "nobody" does not exist'),
        InvalidInput("Choose at least one delivery."),
        UserError("plain"),
    ],
)
def test_a_user_error_survives_pickling_with_its_message_and_type(error: UserError) -> None:
    error.detail = "kept"  # type: ignore[attr-defined]
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.detail == "kept"

"""requirements*.txt (asked for by the design card, used by `make`) stay in step with pyproject.toml."""

from __future__ import annotations

from tools import requirements


def test_requirements_files_are_generated_from_pyproject() -> None:
    stale = [path.name for path, text in requirements.expected().items() if path.read_text() != text]
    assert stale == [], "run `make requirements`"

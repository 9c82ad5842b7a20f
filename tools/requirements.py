"""Write requirements.txt and requirements-dev.txt from pyproject.toml, the one declaration of dependencies.

`python tools/requirements.py` rewrites both files; `--check` exits 1 when either is out of step (the tests run
the same comparison).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "# Generated from pyproject.toml by `make requirements` (tools/requirements.py): edit pyproject.toml.\n"


def expected() -> dict[Path, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = HEADER + "".join(f"{pin}\n" for pin in project["dependencies"])
    dev = HEADER + "-r requirements.txt\n" + "".join(f"{pin}\n" for pin in project["optional-dependencies"]["dev"])
    return {ROOT / "requirements.txt": runtime, ROOT / "requirements-dev.txt": dev}


def main(argv: list[str]) -> int:
    stale = [path for path, text in expected().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.name} is out of step with pyproject.toml: run `make requirements`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

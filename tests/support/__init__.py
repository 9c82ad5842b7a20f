"""What the tests share: fixtures and helpers by concern, registered by the conftest.py files.

Test modules import helpers from here, never from one another.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

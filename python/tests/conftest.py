import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
"""The repository root: examples/ paths are relative to it (as in the Rust tests)."""


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def fixtures():
    return load

"""The Python in the client's README and in docs/ADAPTERS.md ("Python agents") compiles. The
framework examples are not run (no model, no framework installed here); a syntax error or a
stray fence would still fail this."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import REPO

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path, section: str | None = None) -> list[str]:
    text = path.read_text()
    if section is not None:
        start = text.index(f"\n## {section}\n")
        end = text.find("\n## ", start + 1)
        text = text[start:end if end != -1 else None]
    return FENCE.findall(text)


@pytest.mark.parametrize("path,section,count", [
    (REPO / "docs" / "ADAPTERS.md", "Python agents", 3),
    (REPO / "clients" / "python" / "README.md", None, 6),
])
def test_the_documented_python_compiles(path: Path, section: str | None, count: int) -> None:
    blocks = python_blocks(path, section)
    assert len(blocks) == count, f"{path.name}: {len(blocks)} python blocks"
    for i, block in enumerate(blocks):
        compile(block, f"{path.name}[{i}]", "exec")

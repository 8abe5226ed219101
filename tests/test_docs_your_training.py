"""The snippets of docs/your-training.md run as written (docs/integrations.md: tests/integrations)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES: dict[str, tuple[str, ...]] = {"your-training.md": ()}


def snippets(page: str) -> list[str]:
    """The ```python blocks of ``page``, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_python_snippet_runs_in_order(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (DOCS / page).is_file():
        pytest.skip(f"docs/{page} is not written")
    for module in PAGES[page]:
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    blocks = snippets(page)
    assert blocks, f"docs/{page} has no python snippets"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"docs/{page} snippet {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"docs/{page} snippet {number} failed: {error!r}\n{block}") from error

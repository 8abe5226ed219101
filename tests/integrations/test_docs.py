"""Every snippet of docs/integrations.md runs as written (each section's blocks in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "integrations.md"


def _blocks(section: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    part = text[start : end if end != -1 else len(text)]
    return "\n".join(re.findall(r"```python\n(.*?)```", part, flags=re.DOTALL))


def test_the_lightning_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lightning")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "snippet"}
    exec(compile(_blocks("Lightning"), str(DOC), "exec"), namespace)
    assert (tmp_path / "lr_range_test.png").exists()
    finder = namespace["finder"]
    assert finder.result is not None  # type: ignore[attr-defined]


def test_the_hugging_face_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "snippet"}
    exec(compile(_blocks("Hugging Face"), str(DOC), "exec"), namespace)
    assert (tmp_path / "hf_lr.png").exists()
    assert namespace["callback"].recommendation is not None  # type: ignore[attr-defined]

"""Why a fit stopped: a kind that code reads and a detail that people read.

``Stop.kind`` is what ``summary.json`` records as the run's status and what tune and compare test;
``Stop.detail`` is the sentence logs, tables and reports print. Nothing parses the sentence back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

StopKind = Literal["finished", "early-stopped", "diverged", "pruned", "stopped"]
KINDS: tuple[str, ...] = get_args(StopKind)


@dataclass(frozen=True)
class Stop:
    """A fit's end: ``kind`` (one of :data:`KINDS`) and ``detail`` (the reason in words)."""

    kind: StopKind
    detail: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"stop kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def __str__(self) -> str:
        return self.detail

    def to_dict(self) -> dict[str, str]:
        """The JSON and checkpoint form: ``{"kind": …, "detail": …}``."""
        return {"kind": self.kind, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Any) -> Stop | None:
        """Read :meth:`to_dict`'s form back (``None`` stays ``None``)."""
        if data is None:
            return None
        return cls(data["kind"], data["detail"])

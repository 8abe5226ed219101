"""A character-level corpus as a task: ``text(path=FILE, context=64, val_fraction=0.1)``.

Any UTF-8 file. The first ``1 - val_fraction`` of its characters train, the rest validate (the
usual split of tinyshakespeare). The vocabulary is the training split's characters, sorted; a
character it lacks maps to one extra id (``unknown``), so a model has ``len(vocabulary) + 1``
outputs. A training batch is ``batch_size`` windows of ``context`` characters drawn at random
positions, with the next character of each position as its target: ``(x, y)`` of shape
``(batch, context)``, which the default loss reads as one classification per character. An
epoch is ``steps_per_epoch`` batches drawn with a generator seeded by ``(seed, epoch)``, so any
epoch replays on its own (exact resume). Validation is a fixed set of ``val_windows`` windows
spread evenly over the validation split, scored as mean loss in nats per character, accuracy
and bits per character (``val_bpc``).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
>>> _ = path.write_text("hello world, " * 40, encoding="utf-8")
>>> corpus = load_corpus(path, val_fraction=0.1)
>>> corpus.vocabulary, corpus.size
(' ,dehlorw', 10)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from lrlab.data.batches import mix_seed
from lrlab.errors import LrlabError, invalid
from lrlab.task import Task

TEXT = "text"  # the dataset spec's name
TEXT_OPTIONS = ("path", "context", "val_fraction", "steps_per_epoch", "val_windows")
WINDOW_STREAM = 3


@dataclass(frozen=True)
class Corpus:
    """A corpus as character ids: ``train`` and ``val`` (int64), the training ``vocabulary``."""

    name: str
    vocabulary: str
    train: Tensor
    val: Tensor

    @property
    def size(self) -> int:
        """Ids a model predicts: the vocabulary and one id for unknown characters."""
        return len(self.vocabulary) + 1


def load_corpus(path: str | Path, *, val_fraction: float = 0.1) -> Corpus:
    """Read ``path`` (UTF-8), split it and encode both parts with the training vocabulary."""
    file = Path(path).expanduser()
    if not 0 < val_fraction < 1:
        raise invalid(
            "val_fraction", "a number in (0, 1): text validates on the end of the file", val_fraction
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LrlabError(f"text: no file {str(file)!r}.") from None
    except IsADirectoryError:
        raise LrlabError(f"text: {str(file)!r} is a folder; give a UTF-8 text file.") from None
    except UnicodeDecodeError as error:
        raise LrlabError(f"text: {file} is not UTF-8 text ({error.reason} at byte {error.start}).") from None
    cut = int(len(text) * (1 - val_fraction))
    train, val = text[:cut], text[cut:]
    vocabulary = "".join(sorted(set(train)))
    lookup = {character: index for index, character in enumerate(vocabulary)}
    unknown = len(vocabulary)

    def encode(part: str) -> Tensor:
        return torch.tensor([lookup.get(character, unknown) for character in part], dtype=torch.long)

    return Corpus(file.name, vocabulary, encode(train), encode(val))


class Windows:
    """Random windows of ``ids``: ``steps`` batches per epoch, the epoch set by ``set_epoch``."""

    def __init__(self, ids: Tensor, context: int, batch_size: int, steps: int, seed: int) -> None:
        self.ids, self.context, self.batch_size, self.steps, self.seed = ids, context, batch_size, steps, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The next pass draws epoch ``epoch``'s windows."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, WINDOW_STREAM))
        offsets = torch.arange(self.context + 1)
        for _ in range(self.steps):
            starts = torch.randint(0, len(self.ids) - self.context, (self.batch_size, 1), generator=generator)
            window = self.ids[starts + offsets]
            yield window[:, :-1], window[:, 1:]


def fixed_windows(ids: Tensor, context: int, count: int) -> Tensor:
    """``count`` windows of ``context + 1`` ids spread evenly over ``ids`` (fewer when short)."""
    last = len(ids) - context - 1
    starts = torch.unique(torch.linspace(0, last, min(count, last + 1)).round().long())
    return ids[starts[:, None] + torch.arange(context + 1)]


def text_task(
    path: str,
    *,
    context: int = 64,
    val_fraction: float = 0.1,
    steps_per_epoch: int = 200,
    val_windows: int = 256,
    batch_size: int = 12,
    seed: int = 0,
    eval_batch_size: int = 256,
) -> Task:
    """The corpus at ``path`` as a :class:`~lrlab.task.Task` (see the module docs)."""
    for name, value, low in (
        ("context", context, 1),
        ("steps_per_epoch", steps_per_epoch, 1),
        ("val_windows", val_windows, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise invalid(name, f"an integer >= {low}", value)
    corpus = load_corpus(path, val_fraction=val_fraction)
    for part, ids in (("training", corpus.train), ("validation", corpus.val)):
        if len(ids) < context + 2:
            raise LrlabError(
                f"text: the {part} part of {path} holds {len(ids)} characters, fewer than context + 2 = "
                f"{context + 2}; use a longer file or a smaller context."
            )
    val = fixed_windows(corpus.val, context, val_windows)
    return Task(
        train=Windows(corpus.train, context, batch_size, steps_per_epoch, seed),
        evaluate=lambda model: score_windows(model, val, eval_batch_size),
        name=f"text({corpus.name}, {corpus.size - 1} characters)",
        input_shape=(context,),
        num_outputs=corpus.size,
    )


def score_windows(model: nn.Module, windows: Tensor, batch_size: int) -> dict[str, Any]:
    """Mean next-character loss (nats), accuracy and bits per character over ``windows``."""
    device = next(model.parameters()).device
    loss, hits = torch.zeros((), dtype=torch.float64, device=device), torch.zeros((), device=device)
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size].to(device)
        logits = model(chunk[:, :-1]).float()
        targets = chunk[:, 1:]
        loss += functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum").double()
        hits += (logits.argmax(-1) == targets).sum()
    characters = windows[:, 1:].numel()
    nats = float(loss) / characters
    return {"loss": nats, "acc": float(hits) / characters, "bpc": nats / math.log(2)}

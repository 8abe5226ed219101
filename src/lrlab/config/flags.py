"""The :class:`Flag` marker: a field of the experiment schema that is also a command-line flag.

A field annotated ``Annotated[int, Flag(OPTIMIZATION, "N")]`` is a setting: the commands in
``commands`` take it as a flag (its help is the field's ``description``), and
:func:`lrlab.config.apply_overrides` applies it by its key. :mod:`lrlab.config.settings` collects
the marked fields; nothing else lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TRAIN, FIND_LR, COMPARE, TUNE = "train", "find-lr", "compare", "tune"
EVERY = (TRAIN, FIND_LR, COMPARE, TUNE)
TRAINING = (TRAIN, COMPARE, TUNE)  # the commands that train with a schedule and callbacks
# Where --help lists a flag: the shared groups come first, each under its own title; a command
# lists its RUN and PARALLEL flags among its own options.
TASK, OPTIMIZATION, FINE_TUNING = "task", "optimization", "fine-tuning"
RUN, PARALLEL = "run", "parallel"
SHARED_GROUPS = (TASK, OPTIMIZATION, FINE_TUNING)


@dataclass(frozen=True)
class Flag:
    """How a setting is spelled on the command line.

    ``group``: where ``--help`` lists it; ``commands``: the commands that take it (none: an
    override of the library only); ``key``: its override key (default: the field's name);
    ``name``: its flag (default: ``--key`` with dashes), spelled differently in the commands of
    ``renamed`` (where ``name`` means something else); ``aliases``: other spellings;
    ``switch``: the value may be left out, and giving the flag turns its table's ``enabled`` on;
    ``form``: one ``KEY=VALUE`` item of a table-valued setting, as errors describe it.
    """

    group: str
    metavar: str | None = None
    commands: tuple[str, ...] = EVERY
    key: str | None = None
    name: str | None = None
    renamed: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    switch: bool = False
    form: str = "KEY=VALUE"

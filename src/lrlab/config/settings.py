"""The settings table: every field of the schema marked with a :class:`~lrlab.config.flags.Flag`,
in the schema's order. Commands derive their flags from it (:mod:`lrlab.commands.setting_flags`)
and :func:`apply_overrides` applies values by its keys, so a setting is declared once: on its
field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from lrlab.config.flags import TRAIN, Flag
from lrlab.config.messages import model_of
from lrlab.config.schema import Experiment, validate
from lrlab.errors import unknown


@dataclass(frozen=True)
class Setting:
    """One setting: ``path`` in the experiment (``train.epochs``), its ``marker``, the type of its
    value (``None`` left out: a flag not given keeps the file's value) and its help."""

    path: str
    marker: Flag
    annotation: Any
    help: str | None

    @property
    def key(self) -> str:
        """The override key: ``apply_overrides(experiment, <key>=value)``."""
        return self.marker.key or self.path.rpartition(".")[2]

    @property
    def flag(self) -> str:
        """The flag as ``lrlab train`` spells it (``--epochs``)."""
        return self.marker.name or "--" + self.key.replace("_", "-")

    def flag_in(self, command: str) -> str:
        """The flag as ``command`` spells it."""
        return self.marker.renamed.get(command, self.flag)

    def taken_by(self, command: str) -> bool:
        """Whether ``command`` has this setting's flag."""
        return command in self.marker.commands

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The values of a setting of a ``Literal`` type; ``None`` for other types."""
        return get_args(self.annotation) if get_origin(self.annotation) is Literal else None

    @property
    def table(self) -> str:
        """The table that holds the setting (``""`` at the top level)."""
        return self.path.rpartition(".")[0]


def _settings(model: type[BaseModel], prefix: str = "") -> Iterator[Setting]:
    """The marked fields of ``model`` and of its tables, depth first, in the schema's order."""
    for name, info in model.model_fields.items():
        table = model_of(info.annotation)
        if table is not None and get_origin(info.annotation) is not list:
            yield from _settings(table, f"{prefix}{name}.")
        for marker in (m for m in info.metadata if isinstance(m, Flag)):
            yield Setting(f"{prefix}{name}", marker, _without_none(info.annotation), info.description)


def _without_none(annotation: Any) -> Any:
    """``int | None`` → ``int``."""
    if get_origin(annotation) in (Union, UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not NoneType]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


SETTINGS: dict[str, Setting] = {setting.key: setting for setting in _settings(Experiment)}


def settings_of(command: str) -> list[Setting]:
    """The settings ``command`` takes as flags, in the schema's order."""
    return [setting for setting in SETTINGS.values() if setting.taken_by(command)]


def apply_overrides(experiment: Experiment, *, command: str = TRAIN, **values: object) -> Experiment:
    """A copy of ``experiment`` with the CLI's values, by :data:`SETTINGS` key (``None`` keeps the
    file's value). A switch (``early_stopping=True`` or a patience) turns its table on. Values
    win over the variants' own keys too; errors name the flag as ``command`` spells it."""
    data = experiment.model_dump()
    flags: dict[str, str] = {}
    for key, value in values.items():
        if key not in SETTINGS:
            raise unknown("override", key, SETTINGS)
        setting = SETTINGS[key]
        if value is None:
            continue
        if setting.marker.switch:
            _override(data, f"{setting.table}.enabled", True)
            if value is True:
                continue
        _override(data, setting.path, value)
        flags[setting.path] = setting.flag_in(command)
    return validate(data, flags=flags)


def _override(data: dict[str, Any], path: str, value: object) -> None:
    """Set ``path`` in the shared settings and in every variant that sets it itself."""
    section, _, leaf = path.rpartition(".")
    (data[section] if section else data)[leaf] = value
    for variant in data["variant"] if path != "name" else ():
        table = variant.get(section, {}) if section else variant
        if leaf in table:
            table[leaf] = value

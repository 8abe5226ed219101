"""The experiment: its tables (:mod:`lrlab.config.sections`), ``[[variant]]`` arms and
``[search]``, validated into one :class:`Experiment` or one :class:`LrlabError` naming the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, get_origin

from pydantic import AfterValidator, Field, ValidationError, model_validator

from lrlab.config.flags import COMPARE, OPTIMIZATION, RUN, TRAINING, Flag
from lrlab.config.messages import Constraint, model_of, one_line
from lrlab.config.search import parse_search
from lrlab.config.sections import (
    Divergence,
    EarlyStopping,
    Finetune,
    Optimizer,
    Plateau,
    Section,
    Task,
    Train,
)
from lrlab.errors import LrlabError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _folder_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise Constraint("1-100 letters, digits, '.', '_' or '-' (a folder name)")
    return value


def _canonical_schedule(value: str) -> str:
    from lrlab.schedules import parse

    return str(parse(value))


FolderName = Annotated[str, AfterValidator(_folder_name)]
ScheduleSpec = Annotated[str, AfterValidator(_canonical_schedule)]  # kept in canonical form


class Variant(Section):
    """``[[variant]]``: one arm of a comparison. ``name`` is its folder; ``schedule`` and the
    partial tables replace the shared settings' keys (see :mod:`lrlab.config`)."""

    name: FolderName
    schedule: ScheduleSpec | None = None
    task: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    optimizer: dict[str, Any] = Field(default_factory=dict)
    early_stopping: dict[str, Any] = Field(default_factory=dict)
    plateau: dict[str, Any] = Field(default_factory=dict)
    divergence: dict[str, Any] = Field(default_factory=dict)


# the tables a variant sets keys of, and [search] searches
VARIANT_TABLES = tuple(
    name for name, info in Variant.model_fields.items() if get_origin(info.annotation) is dict
)


class Experiment(Section):
    """One experiment file. ``name`` is the folder of its runs (``runs/<name>/<run>``);
    ``seeds`` and ``variant`` are read by ``lrlab compare``, ``search`` by ``lrlab tune``."""

    name: Annotated[FolderName, Flag(RUN, "NAME")] = Field(
        default="default", description="experiment name (default: the file's stem)"
    )
    schedule: Annotated[ScheduleSpec, Flag(OPTIMIZATION, "SPEC", commands=TRAINING)] = Field(
        default="constant()", description="LR schedule spec (see lrlab schedule --list)"
    )
    task: Task = Task()
    train: Train = Train()
    optimizer: Optimizer = Optimizer()
    early_stopping: EarlyStopping = EarlyStopping()
    plateau: Plateau = Plateau()
    divergence: Divergence = Divergence()
    finetune: Finetune = Finetune()
    seeds: Annotated[int, Flag(RUN, "N", commands=(COMPARE,))] = Field(
        default=1, ge=1, le=1000, description="runs per variant (default: the file's, else 1)"
    )
    variant: list[Variant] = Field(default_factory=list)
    search: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _search(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("search"), Mapping):
            return {**data, "search": normalize_search(data["search"])}
        return data

    @model_validator(mode="after")
    def _variants(self) -> Experiment:
        seen: dict[str, str] = {}
        for index, variant in enumerate(self.variant):
            if (folded := variant.name.casefold()) in seen:  # folders clash on case-blind disks
                raise LrlabError(
                    f"variant names must be unique folder names: variant[{index}] {variant.name!r} "
                    f"repeats {seen[folded]!r}."
                )
            seen[folded] = variant.name
            resolve_variant(self, variant)
        return self


def _settings_of(table: str) -> tuple[str, ...]:
    section = model_of(Experiment.model_fields[table].annotation)
    return tuple(section.model_fields) if section is not None else ()


SEARCHABLE = {table: _settings_of(table) for table in VARIANT_TABLES}


def normalize_search(table: Mapping[str, Any]) -> dict[str, str]:
    """``[search]`` flattened to dotted keys (``[search.train] epochs`` → ``train.epochs``), each
    key a short key or a setting of :data:`VARIANT_TABLES`, each distribution checked and in
    canonical form (the grammar is :mod:`lrlab.config.search`'s)."""
    return parse_search(table, SEARCHABLE)


def validate(data: Mapping[str, Any], *, flags: Mapping[str, str] | None = None) -> Experiment:
    """Validate a parsed experiment; any problem is one :class:`LrlabError` naming the key
    (or the flag in ``flags`` that set it)."""
    try:
        return Experiment.model_validate(data)
    except ValidationError as error:
        raise LrlabError(one_line(error, Experiment, flags or {})) from None


def resolve_variant(experiment: Experiment, variant: Variant) -> Experiment:
    """The shared settings with ``variant``'s keys merged in, validated, without variants."""
    data = experiment.model_dump(exclude={"variant"})
    for table in VARIANT_TABLES:
        data[table] = {**data[table], **getattr(variant, table)}
    if variant.schedule is not None:
        data["schedule"] = variant.schedule
    try:
        return Experiment.model_validate(data)
    except ValidationError as error:
        raise LrlabError(f"variant {variant.name!r}: {one_line(error, Experiment, {})}") from None


def variants_as_search(experiment: Experiment) -> Experiment:
    """A comparison as a search, for ``lrlab tune``: variants that differ only in ``schedule``
    become ``schedule = choice(…)`` in ``[search]``, beside the optimizer's built-in space when
    ``[search]`` names no other keys; any other variant is an error saying why."""
    if not experiment.variant:
        return experiment
    tables = [table for table in VARIANT_TABLES if any(getattr(v, table) for v in experiment.variant)]
    if tables or any(v.schedule is None for v in experiment.variant) or "schedule" in experiment.search:
        why = f"set [variant.{tables[0]}] keys" if tables else "are not schedules alone"
        raise LrlabError(
            f"the [[variant]] tables {why}, which lrlab compare runs; lrlab tune searches one setting "
            'at a time: remove them, or search with schedule = "choice(…)" and other keys in [search].'
        )
    specs = ", ".join(f'"{v.schedule}"' for v in experiment.variant)
    from lrlab.optim import parse_optimizer

    search = dict(experiment.search) or {"space": parse_optimizer(experiment.optimizer.name).name}
    data = experiment.model_dump(exclude={"variant"})
    return validate({**data, "search": {**search, "schedule": f"choice({specs})"}})

"""Experiment files: the TOML that ``lrlab train`` reads, as validated pydantic models.

Every key has a default, so an empty file (or no file) is a valid experiment: the embedded
``digits`` quickstart. Unknown keys and bad values are errors that name the key path and the
valid keys or the constraint, in one line::

    [train]
    epoch = 3       # lrlab: error: unknown key 'train.epoch'; did you mean 'epochs'? ...
    batch_size = 0  # lrlab: error: train.batch_size must be an integer >= 1, got ...

Specs (``schedule``, ``optimizer.name``, ``task.dataset``, ``task.model``, ``task.augment``) are
checked when the file is loaded and stored in canonical form. Paths are relative to the working
directory. Later tables (``[search]`` for tuning) are new fields of :class:`Experiment` built
from :class:`Section`; the error messages need no change for them.

Comparisons (``lrlab compare``) add ``seeds`` (runs per variant) and ``[[variant]]`` tables: each
has a ``name`` (its folder) and may set ``schedule`` and partial ``[variant.task]``,
``[variant.train]``, ``[variant.optimizer]``, ``[variant.early_stopping]``, ``[variant.plateau]``
and ``[variant.divergence]`` tables, whose keys replace the shared ones (a value is replaced
whole, ``lr_multipliers`` included). Each merged variant is validated when the file is loaded;
its errors start with ``variant 'NAME':``. ``lrlab train`` refuses a file with variants.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from lrlab.errors import LrlabError, invalid, unknown

Mode = Literal["auto", "min", "max"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_PLUGIN = re.compile(r"[A-Za-z_][\w.]*:")
_METRIC = re.compile(r"train_loss|val_[A-Za-z0-9_]+")


class Constraint(ValueError):
    """Raised by a validator: the message is the constraint a value breaks ("an integer >= 1")."""


class Section(BaseModel):
    """Base of every table: unknown keys are errors, values keep their TOML types, frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _spec_name(text: str, kind: str) -> str:
    from lrlab.spec import Chain, parse_expression

    expression = parse_expression(text if "(" in text else f"{text}()")
    if isinstance(expression, Chain):
        raise LrlabError(f"a {kind} spec is one call, not a chain with '>>': {text!r}.")
    return expression.name


def _known(value: str, kind: str, names: Collection[str]) -> str:
    """``value`` when it is a plug-in or names one of ``names``; else "unknown … did you mean"."""
    if not _PLUGIN.match(value) and (name := _spec_name(value, kind)) not in names:
        raise unknown(kind, name, names)
    return value


def _metric(value: str) -> str:
    if not _METRIC.fullmatch(value):
        raise Constraint(
            "train_loss or a held-out metric val_<name> (val_loss, val_acc, val_mse, or a key of a "
            "task's evaluate)"
        )
    return value


Metric = Annotated[str, AfterValidator(_metric)]  # a task's evaluate may add its own val_<name>


class Task(Section):
    """``[task]``: what is learned. ``dataset`` and ``model`` are specs or
    ``pkg.module:function(key=value)`` plug-ins. ``plugin`` names a function that returns a whole
    :class:`lrlab.Task` (model factory, batches, optional loss and evaluation) instead; it takes
    its options, and ``batch_size=`` and ``seed=`` from ``[train]`` when it declares them.
    ``plugin_dir``: where plug-in modules are imported from besides the working directory
    (default: the experiment file's folder)."""

    dataset: str = "digits"
    model: str = "mlp"
    data_dir: str | None = None
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    augment: str | None = None
    plugin: str | None = None
    plugin_dir: str | None = None

    @field_validator("plugin")
    @classmethod
    def _plugin(cls, value: str | None) -> str | None:
        from lrlab.plugins import parse_plugin

        if value is not None:
            parse_plugin(value, "task.plugin")
        return value

    @model_validator(mode="after")
    def _plugin_makes_the_data(self) -> Task:
        if self.plugin is None:
            return self
        defaults = Task()
        for key in ("dataset", "model", "val_fraction", "augment"):
            if getattr(self, key) != getattr(defaults, key):
                raise LrlabError(
                    f"task.{key} does not apply with task.plugin: the plug-in {self.plugin!r} makes "
                    f"the data and the model; remove task.{key} (or pass its value to the plug-in)."
                )
        return self

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        from lrlab.data import DATASETS
        from lrlab.data.text import TEXT

        return _known(value, "dataset", [*DATASETS, TEXT])

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        from lrlab.models import MODELS, check_model

        _known(value, "model", MODELS)
        check_model(value)
        return value

    @field_validator("augment")
    @classmethod
    def _augment(cls, value: str | None) -> str | None:
        from lrlab.data import parse_augment

        if value is not None:
            parse_augment(value)
        return value


class Train(Section):
    """``[train]``: the loop's settings. ``amp``: bf16 autocast when the device is CUDA.

    ``batch_size`` is per process; under ``torchrun`` the global batch is ``batch_size × world
    size``, and ``lr_scaling`` ("linear", "sqrt", "none") rescales the LR from the batch size
    ``reference_batch_size`` (default ``batch_size``: one process), with a per-step warmup over
    ``scaling_warmup_epochs`` when it grows (see :mod:`lrlab.scaling`). ``compile``: train
    through ``torch.compile``.
    """

    epochs: int = Field(default=10, ge=1)
    steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=128, ge=1)
    seed: int = Field(default=0, ge=0, lt=2**63)
    device: str = "auto"
    interval: Literal["step", "epoch"] = "step"
    grad_clip: float | None = Field(default=None, gt=0)
    amp: bool = True
    eval_batch_size: int = Field(default=2048, ge=1)
    lr_scaling: Literal["none", "linear", "sqrt"] = "none"
    reference_batch_size: int | None = Field(default=None, ge=1)
    scaling_warmup_epochs: float = Field(default=5.0, ge=0)
    compile: bool = False

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.fullmatch(value):
            raise Constraint("'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return value


class Optimizer(Section):
    """``[optimizer]``: ``name`` is an optimizer spec (``"sgd(momentum=0.9)"``), ``lr`` the base
    LR, ``lr_multipliers`` maps parameter-name prefixes (``"head"``) to factors of ``lr``."""

    name: str = "sgd()"
    lr: float = Field(default=0.1, gt=0)
    decay_norm_and_bias: bool = False
    lr_multipliers: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @field_validator("lr")
    @classmethod
    def _lr(cls, value: float) -> float:
        return _float32_safe(value)

    @field_validator("lr_multipliers")
    @classmethod
    def _multipliers(cls, value: dict[str, float]) -> dict[str, float]:
        for factor in value.values():
            _float32_safe(factor)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from lrlab.optim import parse_optimizer

        return str(parse_optimizer(value if "(" in value else f"{value}()"))


def _float32_safe(value: float) -> float:
    """LRs and their factors are capped (as the schedule's values are) so that products fit float32."""
    if value > 1e12:
        raise Constraint("at most 1e12 (larger values overflow float32 in torch)")
    return value


class EarlyStopping(Section):
    """``[early_stopping]``: stop after ``patience`` epochs without improvement of ``monitor``.
    ``monitor``/``mode`` also choose ``best.pt`` and the best metrics of ``summary.json``."""

    enabled: bool = False
    monitor: Metric = "val_loss"
    mode: Mode = "auto"
    patience: int = Field(default=5, ge=0)
    min_delta: float = Field(default=0.0, ge=0)
    baseline: float | None = None
    restore_best_weights: bool = True
    grace: int | None = Field(default=None, ge=0)


class Plateau(Section):
    """``[plateau]``: multiply the LR by ``factor`` when ``monitor`` stalls."""

    enabled: bool = False
    monitor: Metric = "val_loss"
    mode: Mode = "auto"
    factor: float = Field(default=0.1, gt=0, lt=1)
    patience: int = Field(default=10, ge=0)
    min_delta: float = Field(default=1e-4, ge=0)
    cooldown: int = Field(default=0, ge=0)
    min_scale: float = Field(default=0.0, ge=0, le=1)
    grace: int | None = Field(default=None, ge=0)


class Divergence(Section):
    """``[divergence]``: on a non-finite or exploding loss, go back an epoch and cut the LR."""

    enabled: bool = True
    threshold: float = Field(default=4.0, gt=1)
    cut: float = Field(default=0.5, gt=0, lt=1)
    retries: int = Field(default=3, ge=0)
    beta: float = Field(default=0.98, ge=0, lt=1)


class Finetune(Section):
    """``[finetune]``: start from saved weights; ``freeze`` patterns (fnmatch on parameter names,
    a bare prefix ``"0"`` matching ``0.weight``) keep parameters fixed."""

    init_from: str | None = None
    freeze: list[str] = Field(default_factory=list)


VARIANT_TABLES = ("task", "train", "optimizer", "early_stopping", "plateau", "divergence")


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
    partial tables replace the shared settings' keys (see the module docs)."""

    name: FolderName
    schedule: ScheduleSpec | None = None
    task: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    optimizer: dict[str, Any] = Field(default_factory=dict)
    early_stopping: dict[str, Any] = Field(default_factory=dict)
    plateau: dict[str, Any] = Field(default_factory=dict)
    divergence: dict[str, Any] = Field(default_factory=dict)


class Experiment(Section):
    """One experiment file. ``name`` is the folder of its runs (``runs/<name>/<run>``);
    ``seeds`` and ``variant`` are read by ``lrlab compare``, ``search`` by ``lrlab tune``."""

    name: FolderName = "default"
    schedule: ScheduleSpec = "constant()"
    task: Task = Task()
    train: Train = Train()
    optimizer: Optimizer = Optimizer()
    early_stopping: EarlyStopping = EarlyStopping()
    plateau: Plateau = Plateau()
    divergence: Divergence = Divergence()
    finetune: Finetune = Finetune()
    seeds: int = Field(default=1, ge=1, le=1000)
    variant: list[Variant] = Field(default_factory=list)
    search: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _search(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("search"), Mapping):
            return {**data, "search": search_table(data["search"])}
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
        raise LrlabError(f"variant {variant.name!r}: {_message(error, {})}") from None


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


# CLI flag → (key path, how it is shown in errors); `early_stopping` also turns the table on.
OVERRIDES: dict[str, str] = {
    "name": "name",
    "schedule": "schedule",
    "dataset": "task.dataset",
    "model": "task.model",
    "data_dir": "task.data_dir",
    "val_fraction": "task.val_fraction",
    "augment": "task.augment",
    "epochs": "train.epochs",
    "steps": "train.steps",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "device": "train.device",
    "interval": "train.interval",
    "lr_scaling": "train.lr_scaling",
    "reference_batch_size": "train.reference_batch_size",
    "scaling_warmup_epochs": "train.scaling_warmup_epochs",
    "compile": "train.compile",
    "optimizer": "optimizer.name",
    "lr": "optimizer.lr",
    "lr_multipliers": "optimizer.lr_multipliers",
    "early_stopping": "early_stopping.patience",
    "monitor": "early_stopping.monitor",
    "init_from": "finetune.init_from",
    "freeze": "finetune.freeze",
    "seeds": "seeds",
}


def validate(data: Mapping[str, Any], *, flags: Mapping[str, str] | None = None) -> Experiment:
    """Validate a parsed experiment; any problem is one :class:`LrlabError` naming the key."""
    try:
        return Experiment.model_validate(data)
    except ValidationError as error:
        raise LrlabError(_message(error, flags or {})) from None


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file; ``name`` defaults to the file's stem."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LrlabError(f"experiment file {str(file)!r} not found.") from None
    except IsADirectoryError:
        fix = "Give the .toml file inside it, e.g. lrlab train experiment.toml."
        raise LrlabError(f"experiment file {str(file)!r} is a directory, not a file. {fix}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise LrlabError(f"{file}: not valid TOML: {error}.") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise LrlabError(f"{file}: arrays or tables nested too deep to read; flatten them.") from None
    if "name" not in data:
        data["name"] = re.sub(r"[^A-Za-z0-9._-]+", "-", file.stem).strip("-.")[:100] or "default"
    _locate_plugins(data, file)
    try:
        return validate(data)
    except LrlabError as error:
        raise LrlabError(f"{file}: {error}") from None


def _locate_plugins(data: dict[str, Any], file: Path) -> None:
    """Plug-ins of a file are imported from its folder: ``task.plugin_dir`` defaults to it and a
    relative one is relative to it (only when the file names a plug-in)."""
    from lrlab.plugins import is_plugin

    task = data.get("task")
    tables = [task, *(v.get("task") for v in data.get("variant", []) if isinstance(v, Mapping))]
    specs = [t.get(key) for t in tables if isinstance(t, Mapping) for key in ("plugin", "model", "dataset")]
    if not any(isinstance(spec, str) and is_plugin(spec) for spec in specs):
        return
    task = data.setdefault("task", {})
    folder = task.get("plugin_dir", ".") if isinstance(task, dict) else None
    if isinstance(folder, str):  # else validation names the bad value
        task["plugin_dir"] = str((file.parent / Path(folder).expanduser()).resolve())


def apply_overrides(experiment: Experiment, **values: object) -> Experiment:
    """A copy of ``experiment`` with the CLI's values (keys of :data:`OVERRIDES`; ``None`` keeps
    the file's value). ``early_stopping=True`` or a patience turns early stopping on. Values win
    over the variants' own keys too."""
    data = experiment.model_dump()
    flags: dict[str, str] = {}
    for key, value in values.items():
        if key not in OVERRIDES:
            raise unknown("override", key, OVERRIDES)
        if value is None:
            continue
        path = OVERRIDES[key]
        if key == "early_stopping":
            _override(data, "early_stopping.enabled", True)
            if value is True:
                continue
        _override(data, path, value)
        flags[path] = "--" + key.replace("_", "-")
    return validate(data, flags=flags)


def _override(data: dict[str, Any], path: str, value: object) -> None:
    """Set ``path`` in the shared settings and in every variant that sets it itself."""
    section, _, leaf = path.rpartition(".")
    (data[section] if section else data)[leaf] = value
    for variant in data["variant"] if path != "name" else ():
        table = variant.get(section, {}) if section else variant
        if leaf in table:
            table[leaf] = value


def to_toml(experiment: Experiment) -> str:
    """The experiment as TOML that :func:`load_experiment` reads back equal (``None`` left out);
    variants come last, as ``[[variant]]`` tables."""
    data = experiment.model_dump(exclude_none=True)
    variants = data.pop("variant")
    lines, tables = _toml_tables(data)
    for variant in variants:
        rows, parts = _toml_tables(variant, prefix="variant.")
        tables.append("\n".join(["[[variant]]", *rows]))
        tables.extend(parts)
    return "\n\n".join(["\n".join(lines), *tables]) + "\n"


def _toml_tables(data: Mapping[str, Any], prefix: str = "") -> tuple[list[str], list[str]]:
    """The ``key = value`` lines of ``data``'s plain values and one ``[table]`` per non-empty dict."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            rows = [f"{k} = {_toml_value(v)}" for k, v in value.items()]
            tables.extend(["\n".join([f"[{prefix}{key}]", *rows])] if rows or not prefix else [])
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return lines, tables


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return repr(value) if isinstance(value, int | float) else _toml_string(str(value))


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = (
        f"\\{char}" if char in '"\\' else f"\\u{ord(char):04x}" if char < " " or char == "\x7f" else char
        for char in text
    )
    return '"' + "".join(escaped) + '"'


def _message(error: ValidationError, flags: Mapping[str, str]) -> str:
    first = error.errors()[0]
    loc, kind, value = first["loc"], first["type"], first["input"]
    more = error.error_count() - 1
    tail = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    if kind == "extra_forbidden":
        return _unknown_key(loc) + tail
    path = _path(loc)
    shown = flags.get(path, path)
    if kind == "missing":
        return f"{shown} is required{tail}."
    if kind == "value_error":
        cause = first.get("ctx", {}).get("error")
        if not isinstance(cause, Constraint):
            return f"{shown}: {cause}{tail}" if shown else f"{cause}{tail}"
        return str(invalid(shown, str(cause), value)) + tail
    return str(invalid(shown, _constraint(kind, first.get("ctx", {}), _field(loc)), value)) + tail


def _path(loc: tuple[int | str, ...]) -> str:
    """``('variant', 2, 'name')`` → ``variant[2].name``."""
    return "".join(f"[{p!r}]" if isinstance(p, int) or "." in p else f".{p}" for p in loc).lstrip(".")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or as the items of a list; ``None`` for plain values."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    section, name = loc[:-1], str(loc[-1])
    model: type[BaseModel] = Experiment
    for part in section:
        if isinstance(part, str) and part in model.model_fields:
            model = _model_of(model.model_fields[part].annotation) or model
    known = sorted(model.model_fields)
    where = "[[variant]]" if model is Variant else f"[{_path(section)}]" if section else "the top level"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"unknown key {_path((*section, name))!r}{hint} Valid keys of {where}: {', '.join(known)}."


def _field(loc: tuple[int | str, ...]) -> FieldInfo | None:
    model: type[BaseModel] | None = Experiment
    info = None
    for part in loc:
        if isinstance(part, int) and model is not None and info is not None:
            continue  # an item of a list of tables
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None if model is not None else info
        info = model.model_fields[part]
        model = _model_of(info.annotation)
    return info


def _constraint(kind: str, ctx: Mapping[str, Any], info: FieldInfo | None) -> str:
    annotation = info.annotation if info is not None else None
    types = {annotation, *get_args(annotation)}
    noun = "an integer" if int in types or kind.startswith("int") else "a number"
    if kind == "literal_error":
        return str(ctx["expected"])
    if kind in ("bool_type", "bool_parsing"):
        return "true or false"
    if kind.startswith("string"):
        return "a string in quotes"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "a table"
    if kind == "list_type":
        return "a list of tables" if _model_of(annotation) else "a list of strings"
    found = {op: getattr(m, op) for m in (info.metadata if info else []) for op in _SYMBOLS if hasattr(m, op)}
    bounds = found or {op: ctx[op] for op in _SYMBOLS if op in ctx}
    finite = "a finite number" if kind == "finite_number" and noun == "a number" else noun
    optional = " (or left out)" if type(None) in types else ""
    return f"{finite}{_range(bounds)}{optional}"


_SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _range(bounds: Mapping[str, object]) -> str:
    low = [(op, bound) for op, bound in bounds.items() if op in ("ge", "gt")]
    high = [(op, bound) for op, bound in bounds.items() if op in ("le", "lt")]
    if low and high:
        (lop, lo), (hop, hi) = low[0], high[0]
        return f" in {'[' if lop == 'ge' else '('}{lo}, {hi}{']' if hop == 'le' else ')'}"
    return "".join(f" {_SYMBOLS[op]} {bound}" for op, bound in low + high)


# --- [search]: what `lrlab tune` searches ---------------------------------------------------------


def search_table(table: Mapping[str, Any]) -> dict[str, str]:
    """``[search]`` flattened to dotted keys (``[search.train] epochs`` → ``train.epochs``), each
    distribution checked and in canonical form; the grammar is :mod:`lrlab.tune.grammar`'s."""
    from lrlab.tune.grammar import normalize_search

    return normalize_search(table)

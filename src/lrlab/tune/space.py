"""Search spaces: an experiment's ``[search]`` table (see :mod:`lrlab.config.search`) and the
built-in optimizer-aware spaces → one :class:`~lrlab.config.Experiment` per trial.

Conditional spaces: an optimizer setting is drawn only in trials whose optimizer has it
(``momentum`` for SGD, ``alpha``/``eps`` for RMSprop, ``beta1``/``beta2`` for Adam and AdamW),
so ``optimizer = "choice('sgd', 'rmsprop')"`` with ``momentum`` and ``alpha`` searches two
spaces at once. Built-in spaces (``space = "sgd"``, ``"rmsprop"``, ``"adam"``, ``"adamw"``,
``"optimizers"``) draw the LR and weight decay on a log scale, 1 − momentum or 1 − β on a log
scale, the warmup length (up to a quarter of the epochs) and the schedule family; keys of the
table replace the built-in ones. An experiment without ``[search]`` gets the built-in space of
its optimizer.

Schedule families given by name (``"cosine"``) are sized to each trial: they run from the end
of the warmup to the last epoch, in the experiment's interval. With a
:class:`~lrlab.scaling.ScalingRule`, the LR is multiplied by ``B / reference`` (``linear``, Goyal
et al. 2017) or its square root (``sqrt``, for adaptive methods) for a batch size ``B``, and the
step durations of a schedule written out in steps are divided by the same ``B / reference``;
warmup is counted in epochs, so it covers the same share of training whatever the batch size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrlab.config import Experiment, validate
from lrlab.config.distributions import Distribution, parse_distribution
from lrlab.config.search import AUTO_SCHEDULES, KEYS, check_values
from lrlab.errors import LrlabError, invalid
from lrlab.optim import OptimizerSpec, parse_optimizer
from lrlab.scaling import ScalingRule
from lrlab.schedules import Schedule, map_steps, parse

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

WARMUP_START = 0.1  # a warmup from 0 would waste the first update
END = 0.01  # where the decaying families end, as a fraction of the base LR
_SHARED = {"weight_decay": "loguniform(1e-06, 0.01)"}
BUILTIN: dict[str, dict[str, str]] = {
    # momentum 0.7–0.97, an average over 3–33 gradients: below, a larger LR does the same; above,
    # short runs cannot spare the steps, and lr / (1 - momentum) reaches the divergent corner
    "sgd": {"lr": "loguniform(0.001, 1)", "momentum": "1 - loguniform(0.03, 0.3)", **_SHARED},
    "rmsprop": {
        "lr": "loguniform(1e-05, 0.03)",
        "alpha": "1 - loguniform(0.001, 0.2)",
        "eps": "loguniform(1e-10, 0.001)",
        **_SHARED,
    },
    "adam": {
        "lr": "loguniform(1e-05, 0.03)",
        "beta1": "1 - loguniform(0.02, 0.5)",
        "beta2": "1 - loguniform(0.0001, 0.1)",
        **_SHARED,
    },
}
BUILTIN["adamw"] = {**BUILTIN["adam"], "weight_decay": "loguniform(1e-05, 0.3)"}
MIXED = ("sgd", "rmsprop", "adamw")  # the optimizers of space = "optimizers"
SCHEDULES = "choice('constant', 'cosine', 'linear', 'multistep')"
StepsPerEpoch = Callable[[int], int]  # a trial's batch size → its updates per epoch


@dataclass(frozen=True)
class Param:
    """One searched value: the ``key`` it sets, the Optuna parameter ``name``, its distribution
    and the optimizers it is drawn for (every trial when empty)."""

    key: str
    name: str
    distribution: Distribution
    optimizers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    """The parameters a study draws, in order, and the experiment they apply to."""

    base: Experiment
    params: tuple[Param, ...]

    def describe(self) -> dict[str, str]:
        """Optuna name → distribution text (stored with a study, to recognise it on resume)."""
        return {param.name: str(param.distribution) for param in self.params}

    def searches(self, key: str) -> bool:
        """Whether a trial draws ``key`` (``"train.epochs"``, ``"lr"``, …)."""
        return any(param.key == key for param in self.params)

    def epochs_range(self) -> tuple[int, int]:
        """The fewest and most ``train.epochs`` a trial may train (drawn, or the experiment's)."""
        values = _values(self.base, list(self.params), "train.epochs", self.base.train.epochs)
        return min(values), max(values)

    def sample(
        self,
        trial: BaseTrial,
        *,
        steps_per_epoch: StepsPerEpoch,
        scaling: ScalingRule | None = None,
    ) -> Experiment:
        """The experiment of one trial: values drawn from ``trial`` (an Optuna trial, or a
        ``FixedTrial`` to rebuild one), schedules sized by ``steps_per_epoch`` of its batch size."""
        spec = parse_optimizer(self.base.optimizer.name)
        values: dict[str, Any] = {}
        for param in self.params:
            if param.key == "optimizer":
                spec = parse_optimizer(param.distribution.suggest(trial, param.name))
            elif not param.optimizers or spec.name in param.optimizers:
                values[param.key] = param.distribution.suggest(trial, param.name)
        return build_experiment(self.base, spec, values, steps_per_epoch=steps_per_epoch, scaling=scaling)


def build_space(experiment: Experiment) -> SearchSpace:
    """The search space of ``experiment``; every problem is an error before any training."""
    table = dict(experiment.search)
    space = table.pop("space", None)
    if space is None and not table:
        space = parse_optimizer(experiment.optimizer.name).name
    params = _builtin(space, experiment) if space else []
    for key, text in table.items():
        params = [param for param in params if param.key != key]
        distribution = parse_distribution(key, text)
        optimizers = KEYS[key].optimizers if key in KEYS else ()
        params.append(Param(key, key, distribution, optimizers))
    params.sort(key=lambda param: param.key != "optimizer")  # the optimizer decides what follows
    _check(experiment, params)
    return SearchSpace(experiment.model_copy(update={"search": {}}), tuple(params))


def _builtin(space: str, experiment: Experiment) -> list[Param]:
    base = parse_optimizer(experiment.optimizer.name)
    params: list[Param] = []
    if space == "optimizers":
        choices = ", ".join(repr(str(base) if base.name == name else name) for name in MIXED)
        params.append(Param("optimizer", "optimizer", parse_distribution("optimizer", f"choice({choices})")))
        for name in MIXED:
            params += [
                Param(key, f"{name}.{key}", parse_distribution(key, text), (name,))
                for key, text in BUILTIN[name].items()
            ]
    else:
        if base.name != space:
            params.append(
                Param("optimizer", "optimizer", parse_distribution("optimizer", f"choice('{space}')"))
            )
        params += [Param(key, key, parse_distribution(key, text)) for key, text in BUILTIN[space].items()]
    most = experiment.train.epochs // 4
    if most >= 1:
        params.append(Param("warmup", "warmup", parse_distribution("warmup", f"int(0, {most})")))
    params.append(Param("schedule", "schedule", parse_distribution("schedule", SCHEDULES)))
    return [dataclasses.replace(p, distribution=check_values(p.key, p.distribution)) for p in params]


def _check(experiment: Experiment, params: list[Param]) -> None:
    families = {parse_optimizer(experiment.optimizer.name).name}
    for param in params:
        if param.key == "optimizer":
            families = {parse_optimizer(choice).name for choice in param.distribution.choices}
    for param in params:
        if param.optimizers and not families & set(param.optimizers):
            shown = ", ".join(sorted(families))
            raise LrlabError(
                f"search.{param.key} applies to {', '.join(param.optimizers)} only, but the optimizer "
                f'is {shown}. Remove search.{param.key}, or search optimizer = "choice(…)" with '
                f"{param.optimizers[0]} among the choices."
            )
        if "." in param.key:
            _check_setting(experiment, param)
    epochs = min(_values(experiment, params, "train.epochs", experiment.train.epochs))
    warmups = _values(experiment, params, "warmup", 0)
    if max(warmups) >= epochs:
        raise invalid("search.warmup", f"below train.epochs={epochs} (warmup counts epochs)", max(warmups))


def _values(experiment: Experiment, params: list[Param], key: str, default: int) -> list[int]:
    found = [p.distribution for p in params if p.key == key]
    if not found:
        return [default]
    distribution = found[0]
    if distribution.kind == "int":
        return [int(distribution.low), int(distribution.high)]
    return [int(value) for value in distribution.values()]


def _check_setting(experiment: Experiment, param: Param) -> None:
    table, _, name = param.key.partition(".")
    for value in param.distribution.values():
        data = experiment.model_dump()
        data[table][name] = value
        try:
            validate(data)
        except LrlabError as error:
            raise LrlabError(f"search.{param.key} = {str(param.distribution)!r}: {error}") from None


def build_experiment(
    base: Experiment,
    spec: OptimizerSpec,
    values: Mapping[str, Any],
    *,
    steps_per_epoch: StepsPerEpoch,
    scaling: ScalingRule | None = None,
) -> Experiment:
    """``base`` with the optimizer ``spec`` and the drawn ``values`` (by key) applied; schedules
    written as a family name sized by ``steps_per_epoch`` of the trial's batch size."""
    data = base.model_dump()
    for key, value in values.items():
        if "." in key:
            table, _, name = key.partition(".")
            data[table][name] = value
    settings = dict(spec.settings)
    for key, value in values.items():
        if key in KEYS and KEYS[key].optimizers:
            settings[key] = value
    if "beta1" in settings or "beta2" in settings:
        betas: Any = settings.get("betas", (0.9, 0.999))
        settings["betas"] = [settings.pop("beta1", betas[0]), settings.pop("beta2", betas[1])]
    data["optimizer"]["name"] = str(OptimizerSpec(spec.name, tuple(settings.items())))
    data["optimizer"]["lr"] = values.get("lr", base.optimizer.lr)
    data["train"]["batch_size"] = batch = values.get("batch_size", base.train.batch_size)
    train = data["train"]
    unit = steps_per_epoch(batch) if train["interval"] == "step" else 1
    choice = str(values.get("schedule", base.schedule))
    if scaling is not None:
        data["optimizer"]["lr"] *= scaling.factor(batch)
        if train["interval"] == "step" and choice not in AUTO_SCHEDULES:
            choice = rescale_steps(parse(choice), batch / scaling.reference)
    budget = train["steps"] if train["steps"] and train["interval"] == "step" else None
    data["schedule"] = sized_schedule(choice, train["epochs"], values.get("warmup", 0), unit, steps=budget)
    return validate(data)


def sized_schedule(choice: str, epochs: int, warmup: int, unit: int, *, steps: int | None = None) -> str:
    """The schedule spec of a trial: a family name sized to the epochs after the warmup (or to
    ``steps``, a budget in updates), or a spec as written; with ``warmup`` epochs of linear
    warmup in front. ``unit``: steps per epoch (1 when the schedule counts epochs)."""
    rest = (epochs - warmup) * unit if steps is None else max(1, steps - warmup * unit)
    spec = {
        "constant": "constant()",
        "cosine": f"cosine(steps={rest}, end={END})",
        "linear": f"linear(steps={rest}, end={END})",
        "exponential": f"exponential(gamma={END}, every={rest})",
        "multistep": f"multistep(milestones=[{max(1, rest // 2)}, {max(1, rest * 3 // 4)}], gamma=0.1)",
    }.get(choice, choice)
    if warmup:
        spec = f"warmup(steps={warmup * unit}, start={WARMUP_START}) >> {spec}"
    return str(parse(spec))


def rescale_steps(schedule: Schedule, factor: float) -> str:
    """``schedule`` with every value in steps divided by ``factor``, in whole steps (at least 1)."""
    return str(map_steps(schedule, lambda steps: max(1, round(steps / factor)) if steps > 0 else steps))

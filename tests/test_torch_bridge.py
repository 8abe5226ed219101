"""``ScheduledLR`` and ``set_lr``: closed-form LRs, exact resume, plain-data state."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim import SGD, Optimizer

import lrlab
from lrlab.errors import LrlabError
from lrlab.schedules import Schedule, parse
from lrlab.torch_bridge import ScheduledLR, set_lr

SPEC = "warmup(steps=5, start=0.1) >> cosine(steps=30, end=0.05)"
BASES = (0.1, 0.02)


def _optimizer(lrs: Sequence[float] = BASES) -> SGD:
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0], momentum=0.9)


def _lrs(optimizer: Optimizer) -> list[float]:
    return [float(group["lr"]) for group in optimizer.param_groups]


def _advance(optimizer: Optimizer, scheduler: ScheduledLR, steps: int) -> list[list[float]]:
    """The group LRs before each of ``steps`` updates."""
    seen = []
    for _ in range(steps):
        seen.append(_lrs(optimizer))
        optimizer.step()
        scheduler.step()
    return seen


def _round_trip(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded: dict[str, Any] = torch.load(buffer, weights_only=True)
    return loaded


def test_lr_is_the_closed_form_for_every_group() -> None:
    schedule = parse(SPEC)
    optimizer = _optimizer()
    seen = _advance(optimizer, ScheduledLR(optimizer, schedule), 40)
    assert seen == [[base * schedule(step) for base in BASES] for step in range(40)]


def test_outside_changes_to_the_lr_do_not_leak_into_later_steps() -> None:
    """Unlike torch's chainable schedulers, the next LR never reads the group's current LR."""
    schedule = parse(SPEC)
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, schedule)
    _advance(optimizer, scheduler, 7)
    for group in optimizer.param_groups:
        group["lr"] = 123.0
    scheduler.step()
    assert _lrs(optimizer) == [base * schedule(8) for base in BASES]


def test_get_last_lr_is_what_the_groups_hold() -> None:
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, SPEC)
    _advance(optimizer, scheduler, 3)
    assert scheduler.get_last_lr() == _lrs(optimizer)


def test_spec_string_and_schedule_construct_the_same_scheduler() -> None:
    from_spec = ScheduledLR(_optimizer(), SPEC)
    from_schedule = ScheduledLR(_optimizer(), parse(SPEC))
    assert from_spec.schedule == from_schedule.schedule == parse(SPEC)
    assert from_spec.state_dict() == from_schedule.state_dict()
    assert lrlab.ScheduledLR is ScheduledLR


def test_bad_spec_raises_lrlab_error() -> None:
    with pytest.raises(LrlabError, match="unknown schedule 'cosin'"):
        ScheduledLR(_optimizer(), "cosin(steps=3)")


@pytest.mark.parametrize("fresh_lrs", [BASES, (7.0, 3.0)], ids=["same-lrs", "other-lrs"])
def test_resume_into_a_fresh_optimizer_is_exact(fresh_lrs: Sequence[float]) -> None:
    """Save mid-run, load into a new optimizer whose state was *not* loaded, continue."""
    reference = _optimizer()
    uninterrupted = _advance(reference, ScheduledLR(reference, SPEC), 40)

    first = _optimizer()
    scheduler = ScheduledLR(first, SPEC)
    before = _advance(first, scheduler, 17)
    state = _round_trip(scheduler.state_dict())

    fresh = _optimizer(fresh_lrs)
    resumed = ScheduledLR(fresh, SPEC)
    resumed.load_state_dict(state)
    assert resumed.get_last_lr() == uninterrupted[17]
    after = _advance(fresh, resumed, 23)
    assert before + after == uninterrupted
    assert [group["initial_lr"] for group in fresh.param_groups] == list(BASES)


def test_resuming_with_a_different_schedule_names_both_specs() -> None:
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, SPEC)
    _advance(optimizer, scheduler, 3)
    other = ScheduledLR(_optimizer(), "cosine(steps=35)")
    with pytest.raises(LrlabError, match="resuming with a different schedule") as error:
        other.load_state_dict(scheduler.state_dict())
    assert SPEC in str(error.value) and "cosine(steps=35)" in str(error.value)
    assert "pass the original spec or start fresh" in str(error.value)


def test_state_is_plain_data_that_survives_weights_only_load() -> None:
    optimizer = _optimizer()
    scheduler = ScheduledLR(optimizer, SPEC)
    _advance(optimizer, scheduler, 4)
    state = scheduler.state_dict()
    assert state == {"schedule": SPEC, "last_epoch": 4, "base_lrs": list(BASES), "_step_count": 5}
    assert _round_trip(state) == state


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"last_epoch": 3}, "not a ScheduledLR state"),
        ({"schedule": SPEC, "last_epoch": 3, "base_lrs": [0.1], "_step_count": 4}, "one base LR per"),
    ],
)
def test_bad_states_raise_lrlab_error(state: dict[str, Any], message: str) -> None:
    with pytest.raises(LrlabError, match=message):
        ScheduledLR(_optimizer(), SPEC).load_state_dict(state)


def test_no_keys_but_initial_lr_are_added_to_param_groups() -> None:
    optimizer = _optimizer()
    keys = [set(group) for group in optimizer.param_groups]
    scheduler = ScheduledLR(optimizer, SPEC)
    _advance(optimizer, scheduler, 2)
    scheduler.load_state_dict(scheduler.state_dict())
    assert [set(group) - before for group, before in zip(optimizer.param_groups, keys, strict=True)] == [
        {"initial_lr"},
        {"initial_lr"},
    ]


def test_a_warmup_drives_a_real_training_loop() -> None:
    """SGD on a tiny model: each update uses exactly ``base * schedule(step)``."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    bases = (0.1, 0.05)
    optimizer = SGD([{"params": [model.weight], "lr": bases[0]}, {"params": [model.bias], "lr": bases[1]}])
    schedule = parse("warmup(steps=3, start=0.1) >> cosine(steps=5, end=0.1)")
    scheduler = ScheduledLR(optimizer, schedule)
    seen: list[list[float]] = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append(_lrs(opt)))
    inputs, targets = torch.randn(16, 3), torch.randn(16, 1)
    for step in range(8):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        weight, grad = model.weight.detach().clone(), model.weight.grad.detach().clone()  # type: ignore[union-attr]
        optimizer.step()
        scheduler.step()
        lr = bases[0] * schedule(step)
        torch.testing.assert_close(model.weight.detach(), weight - lr * grad)
    assert seen == [[base * schedule(step) for base in bases] for step in range(8)]
    assert seen[0] == [pytest.approx(0.01), pytest.approx(0.005)]


def test_tensor_lrs_are_updated_in_place() -> None:
    lr = torch.tensor(0.1)
    optimizer = SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = ScheduledLR(optimizer, "step(every=1, gamma=0.5)")
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] is lr
    assert float(lr) == pytest.approx(0.05)


def test_last_epoch_follows_torch() -> None:
    """``last_epoch=k`` continues at ``k + 1`` (as torch's schedulers do) and needs ``initial_lr``."""
    with pytest.raises(LrlabError, match="initial_lr"):
        ScheduledLR(_optimizer(), SPEC, last_epoch=3)
    optimizer = _optimizer()
    ScheduledLR(optimizer, SPEC)
    resumed = ScheduledLR(optimizer, SPEC, last_epoch=3)
    assert resumed.last_epoch == 4
    assert _lrs(optimizer) == [base * parse(SPEC)(4) for base in BASES]
    with pytest.raises(LrlabError, match="last_epoch must be an integer >= -1"):
        ScheduledLR(_optimizer(), SPEC, last_epoch=-2)


def test_set_lr_writes_every_group() -> None:
    schedule: Schedule = parse(SPEC)
    optimizer = _optimizer()
    assert set_lr(optimizer, schedule, 12, BASES) == [base * schedule(12) for base in BASES]
    assert _lrs(optimizer) == [base * schedule(12) for base in BASES]
    with pytest.raises(LrlabError, match="base_lrs must be one base LR per param group"):
        set_lr(optimizer, schedule, 0, [0.1])

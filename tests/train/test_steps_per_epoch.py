"""Updates per epoch: one count (``lrlab.train.feed.steps_per_epoch``) that is what every process of
a data-parallel fit runs, also when the last batch holds fewer samples than there are processes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrlab.data import Batches, Data
from lrlab.data.batches import batch_count
from lrlab.distributed import World
from lrlab.schedules import constant
from lrlab.task import Task
from lrlab.train import FitConfig, Run
from lrlab.train.feed import bind, steps_per_epoch
from lrlab.train.loop import train_epoch

CPU = torch.device("cpu")


def data_of(samples: int) -> Data:
    torch.manual_seed(0)
    return Data(
        name="count",
        x_train=torch.randn(samples, 2),
        y_train=torch.arange(samples) % 2,
        x_test=torch.randn(4, 2),
        y_test=torch.arange(4) % 2,
        task="classification",
        num_classes=2,
    )


def updates_run(source: Data | Task, config: FitConfig, world: World) -> int:
    """The updates one epoch of ``fit``'s loop takes in ``world``'s process."""
    workload = bind(source, config, CPU, world)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = Run(model, optimizer, constant(), config, [0.1], workload.steps_per_epoch, world=world)
    losses, _ = train_epoch(run, workload, CPU)
    assert len(losses) == run.state.step
    return run.state.step


@pytest.mark.parametrize(
    ("samples", "batch_size", "world_size", "expected"),
    [
        (10, 4, 3, 1),  # one global batch of 10 < 12, shared 4 + 3 + 3
        (13, 4, 3, 1),  # 12, then 1 sample that 3 processes cannot share: left out
        (10, 3, 3, 1),  # 9, then 1 left out
        (9, 2, 4, 1),  # 8, then 1 left out
        (131, 64, 2, 2),  # 128, then 3 shared 2 + 1
        (10, 4, 1, 3),  # one process: the last batch of 2 trains
    ],
)
def test_every_count_of_an_epoch_is_the_updates_each_process_runs(
    samples: int, batch_size: int, world_size: int, expected: int
) -> None:
    data = data_of(samples)
    config = FitConfig(epochs=1, batch_size=batch_size, device="cpu", quiet=True)
    assert batch_count(samples, batch_size, world_size) == expected
    for rank in range(world_size):
        world = World(rank, world_size)
        shard = Batches(data.x_train, data.y_train, batch_size, rank=rank, world_size=world_size)
        assert steps_per_epoch(data, batch_size, world) == len(shard) == expected
        assert bind(data, config, CPU, world).steps_per_epoch == expected
        assert updates_run(data, config, world) == expected


def test_a_tasks_epoch_is_its_batches_or_its_steps_per_epoch() -> None:
    batches = [(torch.randn(3, 2), torch.arange(3) % 2) for _ in range(5)]
    config = FitConfig(epochs=1, batch_size=3, device="cpu", quiet=True)
    for task, expected in ((Task(batches), 5), (Task(batches, steps_per_epoch=2), 2)):
        assert steps_per_epoch(task, 3, World()) == bind(task, config, CPU, World()).steps_per_epoch
        assert updates_run(task, config, World()) == expected == steps_per_epoch(task, 3, World())

"""Data-parallel training on PyTorch's own engine: which process this is, and the few collectives
the loop needs.

Launched by ``torchrun`` (or ``lrlab train --nproc N``), every process reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` from its environment and joins one process group: gloo on the
CPU, nccl on CUDA. Without those variables (or with ``WORLD_SIZE=1``) the :class:`World` is one
process and every collective is the identity, so the single-process path calls nothing here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from lrlab import lifeline
from lrlab.errors import LrlabError
from lrlab.parallel import available_cpus

T = TypeVar("T")
TIMEOUT = timedelta(minutes=10)  # a peer silent this long ends the job instead of hanging it


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` data-parallel processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that prints and writes files."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        """More than one process."""
        return self.size > 1

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over every process (a new tensor on their device; the input is left alone)."""
        if not self.parallel:
            return values.clone()
        total = values.to(_wire(), copy=True)
        dist.all_reduce(total)
        return total.to(values.device)

    def mean(self, value: float) -> float:
        """The mean of a number over the processes."""
        if not self.parallel:
            return value
        return float(self.sum(torch.tensor([value], dtype=torch.float64)).item()) / self.size

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on one of them."""
        if not self.parallel:
            return flag
        return bool(self.sum(torch.tensor([int(flag)])).item())

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every process."""
        if not self.parallel:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, action: Callable[[], T]) -> T:
        """Run ``action`` on rank 0 only and return its result on every process; an
        :class:`LrlabError` it raises is raised on every process."""
        outcome: tuple[bool, Any] | None = None
        if self.main:
            try:
                outcome = (True, action())
            except LrlabError as error:
                if not self.parallel:
                    raise
                outcome = (False, str(error))
        done, value = self.share(outcome)
        if not done:
            raise LrlabError(value)
        return value  # type: ignore[no-any-return]


def _wire() -> torch.device:
    """Where collective tensors live: CUDA for nccl, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise LrlabError(
            f"environment variable {name}={text!r} is not an integer (torchrun sets it)."
        ) from None


def from_env() -> World:
    """The world ``torchrun`` describes in the environment (one process without it)."""
    world = World(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    if not 0 <= world.rank < world.size:
        raise LrlabError(f"RANK={world.rank} is outside WORLD_SIZE={world.size}; launch with torchrun.")
    return world


def current() -> World:
    """The world of the initialized process group (one process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    return World()


def device_for(world: World, device: torch.device) -> torch.device:
    """Each process on its own GPU: ``cuda`` (or ``auto`` resolved to it) becomes ``cuda:LOCAL_RANK``."""
    if device.type != "cuda" or not world.parallel:
        return device
    if world.local_rank >= torch.cuda.device_count():
        raise LrlabError(
            f"process {world.local_rank} on this machine has no GPU of its own "
            f"({torch.cuda.device_count()} visible); start at most that many with --nproc-per-node."
        )
    return torch.device("cuda", world.local_rank)


def start(device: torch.device) -> World:
    """Join the process group ``torchrun`` set up (once; later calls return the same world).

    The backend is nccl for CUDA devices, gloo for the CPU. One process needs no group. Each
    process of several dies with the launcher that started it (:mod:`lrlab.lifeline`): a killed
    ``torchrun`` leaves no process training on.
    """
    world = from_env()
    if not world.parallel or dist.is_initialized():
        return current() if world.parallel else world
    if not dist.is_available():
        raise LrlabError("this torch build has no torch.distributed; install one that has it for torchrun.")
    lifeline.die_with_parent(os.getppid())
    if device.type == "cuda":
        torch.cuda.set_device(device_for(world, device))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return current()


_PEER_WORDS = ("gloo", "nccl", "connection", "peer", "timed out", "broken pipe")


def is_peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is a collective that failed because another process went away."""
    if dist.is_available() and isinstance(error, dist.DistError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(word in text for word in _PEER_WORDS)


def backend() -> str | None:
    """The process group's backend (``gloo``, ``nccl``), or None for one process."""
    return str(dist.get_backend()) if dist.is_available() and dist.is_initialized() else None


def lost_peer(world: World, folder: Path, error: BaseException) -> LrlabError:
    """The error of a process whose peers went away mid-run (one was killed or failed)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return LrlabError(
        f"process {world.rank} of {world.size} lost contact with the others ({first[:200]}): one of them "
        f"failed or was killed. Run the same command with --resume to continue {folder} from its last "
        "checkpoint."
    )


def stop() -> None:
    """Leave the process group (at the end of a distributed command). After a clean end every
    process first waits for the others, so none tears its connections down while a peer still
    uses them (gloo aborts a process whose peer vanished mid-teardown); after an error (called
    from a ``finally`` with the exception in flight) it leaves at once, since a peer may be gone."""
    if dist.is_available() and dist.is_initialized():
        if sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``lrlab ARGV`` in ``nproc`` processes on this machine with ``torchrun --standalone``
    (a free port on loopback); return its exit code. A failed process ends the job. Unless
    ``$OMP_NUM_THREADS`` says otherwise, each process gets its share of the CPUs' threads.

    ``torchrun`` gets SIGTERM when this process dies (Linux's parent-death signal; it then stops
    its processes, which also die with it on their own), so killing ``lrlab train --nproc`` ends
    the whole job."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    env = {"OMP_NUM_THREADS": str(max(1, available_cpus() // nproc))} | dict(os.environ)
    # preexec_fn is unsafe only beside other threads; the command line that launches has none
    with subprocess.Popen(
        [*command, "-m", "lrlab", *argv],
        env=env,
        preexec_fn=lifeline.parent_death_sigterm,  # noqa: PLW1509
    ) as process:
        try:
            return process.wait()
        except BaseException:  # Ctrl-C reached torchrun too; an error here must not orphan it
            process.terminate()
            process.wait()
            raise


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """``argv`` less ``OPTION VALUE`` and ``OPTION=VALUE``."""
    kept: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            kept.append(word)
    return kept

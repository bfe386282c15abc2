"""Data-parallel training: process-group set-up and the collective operations training needs.

Launching
---------
One process per rank runs the same ``python -m engine train`` command.

* ``torchrun --nproc_per_node N -m engine train ...`` on one machine sets
  ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
  training turns data-parallel by itself when ``WORLD_SIZE`` > 1.
* ``srun -n N python -m engine train --distributed ...`` under Slurm sets
  ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` and
  ``SLURM_JOB_NODELIST``. The first host of the node list (expanded with
  ``scontrol show hostnames``) is the rendezvous address. The port is
  ``MASTER_PORT`` or one derived from the job id. ``--distributed`` is
  required here because the batch script of an allocation also has
  ``SLURM_NTASKS`` > 1.

Backends: ``gloo`` on CPU, ``nccl`` when CUDA is available (the default
picks one), or ``horovod``.

Horovod
-------
``--backend horovod`` uses ``horovod.torch``: ``hvd.init()``, the optimiser
wrapped in ``hvd.DistributedOptimizer``, and ``hvd.broadcast_parameters`` /
``hvd.broadcast_optimizer_state`` from rank 0 at the start. A site that
provides Horovod as an environment module loads it before starting the job,
for example::

    module load horovod            # site-specific module name
    horovodrun -np 8 -H node1:4,node2:4 python -m engine train --backend horovod --data ... --out ...
    # or, under Slurm:
    srun -n 8 python -m engine train --backend horovod --data ... --out ...

Horovod reads rank and size from its own launcher (or from Slurm through
MPI), so the environment parsing below is not used with it. Horovod 0.28.1,
the last release, does not build against torch 2.1 or newer, so with the
pinned torch 2.2.1 this backend raises :class:`DistributedSetupError` unless
the site's Horovod was built for it.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Mapping

import torch
from torch import nn

from engine.surrogate.errors import DistributedSetupError

logger = logging.getLogger(__name__)

#: Rendezvous port when none is set; Slurm jobs add their job id modulo 10000.
DEFAULT_PORT = 29500
BACKENDS = ("gloo", "nccl", "horovod")


@dataclass(frozen=True)
class ProcessGroupSpec:
    """Position of this process in a data-parallel run, and the rendezvous address.

    Attributes:
        rank: Global rank, from 0.
        world_size: Number of processes.
        local_rank: Rank on this host.
        master_addr: Host of rank 0, the rendezvous address.
        master_port: Rendezvous TCP port.
        launcher: ``"torchrun"`` (or another launcher setting ``RANK``) or ``"slurm"``.
    """

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    launcher: str


def parse_nodelist(nodelist: str) -> list[str]:
    """Expand a Slurm node list such as ``node[01-03,07],gpu2`` into host names.

    This covers the bracket forms Slurm writes for one prefix per range
    group; :func:`expand_nodelist` prefers ``scontrol show hostnames``.
    """
    hosts = []
    for match in re.finditer(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist):
        prefix, ranges = match.group(1), match.group(2)
        if ranges is None:
            hosts.append(prefix)
            continue
        for part in ranges.split(","):
            first, _, last = part.partition("-")
            if not last:
                hosts.append(prefix + first)
                continue
            for number in range(int(first), int(last) + 1):
                hosts.append(f"{prefix}{number:0{len(first)}d}")
    return hosts


def expand_nodelist(nodelist: str, run: Callable = subprocess.run) -> list[str]:
    """Expand a Slurm node list with ``scontrol show hostnames``, or with :func:`parse_nodelist` without scontrol."""
    try:
        result = run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True, timeout=30)
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        logger.info("scontrol could not expand %r (%s); parsing it directly", nodelist, error)
        return parse_nodelist(nodelist)
    return result.stdout.split()


def _integer(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise DistributedSetupError(f"environment variable {name}={env[name]!r} is not an integer") from None


def detect_process_group(
    env: Mapping[str, str], expand: Callable[[str], list[str]] = expand_nodelist
) -> ProcessGroupSpec | None:
    """Read rank, world size and rendezvous address from launcher variables.

    ``RANK``/``WORLD_SIZE`` (torchrun and similar) take precedence over the
    Slurm variables. Returns None when neither set is present.

    Raises:
        DistributedSetupError: if a variable is not an integer or the Slurm
            node list is missing.
    """
    if "RANK" in env and "WORLD_SIZE" in env:
        return ProcessGroupSpec(
            rank=_integer(env, "RANK"),
            world_size=_integer(env, "WORLD_SIZE"),
            local_rank=_integer(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0,
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=_integer(env, "MASTER_PORT") if "MASTER_PORT" in env else DEFAULT_PORT,
            launcher="torchrun",
        )
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        if "MASTER_ADDR" in env:
            master = env["MASTER_ADDR"]
        else:
            nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
            if not nodelist:
                raise DistributedSetupError("SLURM_JOB_NODELIST is not set, so the rendezvous host is unknown; set MASTER_ADDR")
            master = expand(nodelist)[0]
        if "MASTER_PORT" in env:
            port = _integer(env, "MASTER_PORT")
        else:
            port = DEFAULT_PORT + (_integer(env, "SLURM_JOB_ID") % 10000 if "SLURM_JOB_ID" in env else 0)
        return ProcessGroupSpec(
            rank=_integer(env, "SLURM_PROCID"),
            world_size=_integer(env, "SLURM_NTASKS"),
            local_rank=_integer(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0,
            master_addr=master,
            master_port=port,
            launcher="slurm",
        )
    return None


def wants_distributed(flag: bool, backend: str | None, env: Mapping[str, str]) -> bool:
    """Return whether to train data-parallel: requested, Horovod chosen, or ``WORLD_SIZE`` > 1."""
    if flag or backend == "horovod":
        return True
    try:
        return int(env.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


class Communicator:
    """Collective operations of a single process: every operation is the identity.

    Subclasses implement them for ``torch.distributed`` and Horovod.
    """

    rank = 0
    world_size = 1
    description = "single process"
    device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap_model(self, model: nn.Module) -> nn.Module:
        return model

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
        return optimizer

    def synchronize_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Finish the gradient all-reduce before gradients are inspected or clipped."""

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduce ``tensor`` over ranks with ``op`` (``sum``, ``max`` or ``min``) and return it."""
        return tensor

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm statistics) to every rank."""

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


class TorchCommunicator(Communicator):
    """``torch.distributed`` process group with ``DistributedDataParallel``.

    Args:
        spec: Rank, size and rendezvous address.
        backend: ``gloo`` or ``nccl``.
        timeout: Seconds a collective may wait for the other ranks.
    """

    _OPS = {"sum": "SUM", "max": "MAX", "min": "MIN"}

    def __init__(self, spec: ProcessGroupSpec, backend: str, timeout: float = 1800.0):
        import torch.distributed as dist

        self.dist = dist
        self.rank = spec.rank
        self.world_size = spec.world_size
        self.backend = backend
        self.description = f"{backend}, rank {spec.rank} of {spec.world_size} ({spec.launcher})"
        # Tensors passed to collectives stay referenced here until the process group is destroyed.
        # Otherwise a gloo worker thread may free the last reference while the main thread holds the
        # GIL in the process group's destructor, and both wait for each other (seen with torch 2.2.1).
        self._collective_tensors: list[torch.Tensor] = []
        # NOTE: the CUDA path (nccl, one GPU per local rank) has not been run on a GPU machine.
        self.device = torch.device(f"cuda:{spec.local_rank}") if backend == "nccl" else torch.device("cpu")
        init_method = f"tcp://{spec.master_addr}:{spec.master_port}"
        logger.info("joining process group at %s as rank %d of %d (%s)", init_method, spec.rank, spec.world_size, backend)
        dist.init_process_group(
            backend, init_method=init_method, rank=spec.rank, world_size=spec.world_size, timeout=timedelta(seconds=timeout)
        )

    def wrap_model(self, model: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        # DDP broadcasts rank 0's parameters and buffers here, so all ranks start equal.
        if self.device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        self._collective_tensors.append(tensor)
        self.dist.all_reduce(tensor, op=getattr(self.dist.ReduceOp, self._OPS[op]))
        return tensor

    def broadcast_buffers(self, model: nn.Module) -> None:
        for buffer in model.buffers():
            self._collective_tensors.append(buffer)
            self.dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        self.dist.barrier()

    def close(self) -> None:
        if self.dist.is_initialized():
            self.dist.destroy_process_group()
        self._collective_tensors.clear()


class HorovodCommunicator(Communicator):
    """Horovod: ``DistributedOptimizer`` all-reduces gradients, rank 0's state is broadcast at the start.

    NOTE: this class is not exercised by the tests, because Horovod cannot be
    built against the pinned torch 2.2.1 (see the module documentation).
    """

    def __init__(self):
        try:
            import horovod.torch as hvd
        except ImportError as error:
            raise DistributedSetupError(
                "horovod is not installed or failed to import "
                f"({error}); use --backend gloo (CPU) or nccl (CUDA) with torchrun or srun, or load a Horovod "
                "build made for this torch version"
            ) from None
        hvd.init()
        self.hvd = hvd
        self.rank = hvd.rank()
        self.world_size = hvd.size()
        self.description = f"horovod, rank {self.rank} of {self.world_size}"
        if torch.cuda.is_available():
            torch.cuda.set_device(hvd.local_rank())
            self.device = torch.device(f"cuda:{hvd.local_rank()}")

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
        hvd = self.hvd
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        hvd.broadcast_optimizer_state(optimizer, root_rank=0)
        return hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())

    def synchronize_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.synchronize()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        with optimizer.skip_synchronize():
            optimizer.step()

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        hvd_op = {"sum": self.hvd.Sum, "max": self.hvd.Max, "min": self.hvd.Min}[op]
        tensor.copy_(self.hvd.allreduce(tensor, op=hvd_op))
        return tensor

    def broadcast_buffers(self, model: nn.Module) -> None:
        for name, buffer in model.named_buffers():
            buffer.copy_(self.hvd.broadcast(buffer, root_rank=0, name=f"buffer.{name}"))

    def barrier(self) -> None:
        self.hvd.allreduce(torch.zeros(1), name="barrier")


def default_backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def setup_communicator(distributed: bool, backend: str | None = None, env: Mapping[str, str] | None = None) -> Communicator:
    """Start the collective backend that this run requests.

    Args:
        distributed: ``--distributed`` was given.
        backend: ``gloo``, ``nccl``, ``horovod`` or None for the default.
        env: Environment variables (default ``os.environ``).

    Raises:
        DistributedSetupError: for an unknown backend, a missing Horovod or
            a data-parallel request without launcher variables.
    """
    env = os.environ if env is None else env
    if backend is not None and backend not in BACKENDS:
        raise DistributedSetupError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not wants_distributed(distributed, backend, env):
        return Communicator()
    if backend == "horovod":
        return HorovodCommunicator()
    spec = detect_process_group(env)
    if spec is None:
        raise DistributedSetupError(
            "data-parallel training needs RANK and WORLD_SIZE (set by torchrun) or SLURM_PROCID and "
            "SLURM_NTASKS (set by srun); start it with torchrun or srun"
        )
    if spec.world_size < 1 or not 0 <= spec.rank < spec.world_size:
        raise DistributedSetupError(f"rank {spec.rank} is outside a world of {spec.world_size} processes")
    return TorchCommunicator(spec, backend or default_backend())

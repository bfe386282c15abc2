"""Training of the surrogate: single process or data-parallel, resumable after a kill.

:func:`train` runs the whole procedure: load (or convert) the data, split it,
fit the per-type means on the training part, then train epoch by epoch with a
linear warm-up and reduce-on-plateau learning rate and early stopping. After
every epoch rank 0 writes a checkpoint and a row of ``metrics.csv``; running
the same request again continues after the last completed epoch. At the end
the weights with the lowest validation loss are evaluated on the test part
against two baselines (``test_report.json``).

The loss is computed on the residual scaled by the model's ``energy_scale``
(the spread of the training energies around the per-type means), so it is of
order 1 at the start whatever the units of the data.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from tqdm import tqdm

from engine.surrogate.config import SurrogateConfig
from engine.surrogate.data import (
    SPLIT_PARTS,
    GraphStore,
    ShardedBatchSampler,
    file_sha256,
    load_dataset,
    make_loader,
    make_split,
)
from engine.surrogate.distributed import Communicator, setup_communicator
from engine.surrogate.errors import DatasetError, ModelMismatchError, TrainingDivergedError, TrainingError
from engine.surrogate.evaluation import evaluate_test_set
from engine.surrogate.model import EnergyModel, build_model, fit_size_offsets, fit_type_means
from engine.surrogate.modeldir import DEFAULT_CACHE_NAME, ModelDirectory
from engine.surrogate.schedule import WarmupPlateauSchedule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    """Training request: data, model directory, config and limits.

    Attributes:
        data: Cluster file with energies.
        out: Model directory; an existing one is resumed.
        config: Model, data and training settings.
        cache_dir: Folder of the converted data (default ``out/cache``).
        max_epochs: Stop this run after this epoch, leaving the rest for a
            later run (None: run to ``config.training.epochs``).
        time_limit_seconds: Stop this run before an epoch would end past this
            wall time, estimated from the last epoch; a later run continues.
        distributed: Train data-parallel (also on when ``WORLD_SIZE`` > 1).
        backend: ``gloo``, ``nccl``, ``horovod`` or None for the default.
        progress: Show a progress bar on a terminal.
    """

    data: Path
    out: Path
    config: SurrogateConfig
    cache_dir: Path | None = None
    max_epochs: int | None = None
    time_limit_seconds: float | None = None
    distributed: bool = False
    backend: str | None = None
    progress: bool = True


@dataclass
class TrainingState:
    """Everything a resumed run needs besides the model and optimiser.

    Attributes:
        epoch: Completed epochs.
        step: Completed optimiser steps.
        history: One metrics row per completed epoch.
        best_loss: Lowest validation loss so far.
        best_epoch: Epoch of ``best_loss``.
        best_weights: Model state dict of ``best_epoch``.
        epochs_without_improvement: Epochs since ``best_loss`` improved.
        finished: True when no further epoch will run (all done or early stop).
        stop_reason: Why the last run stopped.
    """

    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    best_weights: dict | None = None
    epochs_without_improvement: int = 0
    finished: bool = False
    stop_reason: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    """Outcome of :func:`train` on this rank.

    Attributes:
        model: The model with the weights of the last completed epoch.
        state: Final training state (history, best epoch, stop reason).
        report: Test report (rank 0 only, else None).
        rank: This process's rank.
        world_size: Number of processes.
    """

    model: EnergyModel
    state: TrainingState
    report: dict | None
    rank: int
    world_size: int


def batch_loss(predicted: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss of a batch on the scaled residual ``(predicted - target) / scale`` (dimensionless).

    Args:
        predicted: Energies, kcal/mol, shape ``(B,)``.
        target: Reference energies, kcal/mol, shape ``(B,)``.
        scale: Energy scale, kcal/mol, scalar.
        kind: ``mse`` or ``mae``.
    """
    residual = (predicted - target) / scale
    return residual.abs().mean() if kind == "mae" else (residual**2).mean()


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the dropout masks of one epoch on one rank, independent of earlier epochs."""
    return (seed * 1_000_003 + epoch * 1_009 + rank) % (2**63)


def _gradient_norm(model: torch.nn.Module) -> torch.Tensor:
    norms = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
    return torch.stack(norms).norm() if norms else torch.tensor(0.0)


# --- set-up ------------------------------------------------------------------------------------


def _load_store(request: TrainRequest, comm: Communicator) -> GraphStore:
    """Load the data, converting it on rank 0 first so other ranks read the cache."""
    cache_dir = request.cache_dir or Path(request.out) / DEFAULT_CACHE_NAME
    if comm.is_main:
        result = load_dataset(request.data, cache_dir)
    comm.barrier()
    if not comm.is_main:
        result = load_dataset(request.data, cache_dir)
    if result.converted:
        logger.info("converted %s in %.1f s", request.data, result.seconds)
    return result.store


def _split_to_json(store: GraphStore, split: dict[str, np.ndarray], config: SurrogateConfig) -> dict:
    return {
        "seed": config.data.split.seed,
        "fractions": {part: getattr(config.data.split, part) for part in SPLIT_PARTS},
        "frames": {part: store.frames[split[part]].tolist() for part in SPLIT_PARTS},
    }


def _split_from_json(store: GraphStore, stored: dict, directory: ModelDirectory) -> dict[str, np.ndarray]:
    position = {int(frame): index for index, frame in enumerate(store.frames)}
    split = {}
    for part in SPLIT_PARTS:
        frames = stored["frames"][part]
        missing = [frame for frame in frames if frame not in position]
        if missing:
            raise ModelMismatchError(f"{directory.split_path}: frames {missing[:5]} of the {part} part are not in the data")
        split[part] = np.array([position[frame] for frame in frames], dtype=np.int64)
    return split


def _prepare_split(store: GraphStore, config: SurrogateConfig, directory: ModelDirectory) -> dict[str, np.ndarray]:
    stored = directory.read_split()
    if stored is not None:
        return _split_from_json(store, stored, directory)
    return make_split(store, config.data.split)


def _new_model(config: SurrogateConfig, store: GraphStore, train_indices: np.ndarray) -> EnergyModel:
    """Build the model and fit its output baseline on the training part."""
    torch.manual_seed(config.training.seed)
    model = build_model(config.model)
    counts = torch.from_numpy(store.type_counts(train_indices))
    energies = torch.from_numpy(store.energies[train_indices])
    type_means, scale = fit_type_means(counts, energies)
    offsets = None
    if config.model.size_offsets:
        residuals = energies - counts.double() @ type_means.double()
        sizes = torch.from_numpy(store.n_waters[train_indices])
        offsets = fit_size_offsets(sizes, residuals)
        scale = max(float((residuals - offsets.double()[sizes]).std()), 1e-3)
        logger.info("size offsets %s kcal/mol", ", ".join(
            f"{int(n)}: {float(offsets[n]):.2f}" for n in np.unique(store.n_waters[train_indices])))
    model.initialise_output(type_means, scale, offsets)
    logger.info("per-type means %.4f (O), %.4f (H) kcal/mol per atom; residual scale %.3f kcal/mol",
                float(type_means[0]), float(type_means[1]), scale)
    return model


def _metadata(request: TrainRequest, data_sha256: str, store: GraphStore, model: EnergyModel, comm: Communicator) -> dict:
    means = model.type_mean.weight.detach().squeeze(1).tolist()
    return {
        "data": {"path": str(Path(request.data).resolve()), "sha256": data_sha256, "n_graphs": len(store)},
        "type_means_kcal_mol": {"O": means[0], "H": means[1]},
        "energy_scale_kcal_mol": float(model.energy_scale),
        "size_offsets_kcal_mol": {str(n): float(model.size_offset[n]) for n in np.unique(store.n_waters)}
        if model.use_size_offsets else None,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "world_size": comm.world_size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _restore(checkpoint: dict, model: EnergyModel, optimizer, schedule: WarmupPlateauSchedule, comm: Communicator) -> TrainingState:
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    schedule.load_state_dict(checkpoint["schedule"])
    state = TrainingState(**checkpoint["state"])
    if checkpoint.get("world_size") != comm.world_size:
        logger.warning("resuming a run of %s processes with %d; the learning-rate scaling changes",
                       checkpoint.get("world_size"), comm.world_size)
    logger.info("resuming after epoch %d (best validation loss %.4g at epoch %d)", state.epoch, state.best_loss, state.best_epoch)
    return state


# --- one epoch ---------------------------------------------------------------------------------


def _train_epoch(
    wrapped: torch.nn.Module,
    model: EnergyModel,
    loader,
    optimizer,
    schedule: WarmupPlateauSchedule,
    state: TrainingState,
    comm: Communicator,
    config: SurrogateConfig,
    epoch: int,
    progress: bool,
) -> float:
    """Run one training epoch; returns the mean training loss over all ranks.

    Raises:
        TrainingDivergedError: when a gradient (or, in a single process, the
            loss) is not finite; the optimiser step of that batch is skipped.
    """
    torch.manual_seed(_epoch_seed(config.training.seed, epoch, comm.rank))
    wrapped.train()
    totals = torch.zeros(2, dtype=torch.float64)
    bar = tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, file=sys.stderr,
               disable=None if (progress and comm.is_main) else True)
    for number, batch in enumerate(bar, start=1):
        for group in optimizer.param_groups:
            group["lr"] = schedule.learning_rate(state.step)
        target = batch.energies.to(comm.device, torch.float32)
        loss = batch_loss(wrapped(batch.graph.to(comm.device)), target, model.energy_scale, config.training.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        comm.synchronize_gradients(optimizer)
        # Gradients are already summed over ranks, so every rank takes the same decision here.
        norm = _gradient_norm(model)
        if not torch.isfinite(norm) or (comm.world_size == 1 and not torch.isfinite(loss)):
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch}, batch {number}: loss {float(loss):.4g}, gradient norm "
                f"{float(norm):.4g}; the checkpoint of epoch {state.epoch} is kept. Lower the learning rate "
                f"or set training.gradient_clip",
                epoch,
                number,
            )
        if config.training.gradient_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.training.gradient_clip)
        comm.step(optimizer)
        state.step += 1
        totals += torch.tensor([float(loss) * len(batch), len(batch)], dtype=torch.float64)
    bar.close()
    comm.all_reduce(totals)
    return float(totals[0] / totals[1])


@torch.no_grad()
def _validate(model: EnergyModel, loader, comm: Communicator, kind: str) -> tuple[float, float]:
    """Return the validation loss and MAE (kcal/mol) over all ranks."""
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    for batch in loader:
        predicted = model(batch.graph.to(comm.device))
        target = batch.energies.to(comm.device, torch.float32)
        loss = batch_loss(predicted, target, model.energy_scale, kind)
        mae = (predicted - target).abs().sum()
        totals += torch.tensor([float(loss) * len(batch), float(mae), len(batch)], dtype=torch.float64)
    comm.all_reduce(totals)
    return float(totals[0] / totals[2]), float(totals[1] / totals[2])


# --- the run -------------------------------------------------------------------------------------


def _check_identical_parameters(model: EnergyModel, comm: Communicator) -> None:
    """Raise when the ranks hold different parameters (compares their element-wise max and min)."""
    if comm.world_size == 1:
        return
    flat = torch.cat([p.detach().reshape(-1).cpu() for p in model.parameters()]).double()
    largest = comm.all_reduce(flat.clone(), "max")
    smallest = comm.all_reduce(flat.clone(), "min")
    if not torch.equal(largest, smallest):
        raise TrainingError(f"parameters differ between ranks (largest difference {float((largest - smallest).max()):.3g})")
    logger.info("parameters identical on all %d ranks", comm.world_size)


def _write_report(directory: ModelDirectory, config: SurrogateConfig, store: GraphStore, split: dict,
                  state: TrainingState) -> dict | None:
    if state.best_weights is None:
        return None
    best = build_model(config.model)
    best.load_state_dict(state.best_weights)
    report = evaluate_test_set(best, store, split, batch_size=max(config.data.batch_size, 256))
    report.update({"best_epoch": state.best_epoch, "epochs_completed": state.epoch, "stop_reason": state.stop_reason})
    directory.write_report(report)
    overall = report["overall"]
    logger.info(
        "test MAE %.3f kcal/mol (per-size mean %.3f, linear descriptors %s) on %d clusters",
        overall["model"]["mae"], overall["per_size_mean"]["mae"],
        f"{overall['linear_descriptors']['mae']:.3f}" if "linear_descriptors" in overall else "n/a", report["n_test"],
    )
    return report


def _epoch_row(epoch: int, train_loss: float, validation: tuple[float, float], learning_rate: float, seconds: float) -> dict:
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "validation_loss": validation[0],
        "validation_mae_kcal_mol": validation[1],
        "learning_rate": learning_rate,
        "seconds": round(seconds, 3),
    }


def train(request: TrainRequest, env: Mapping[str, str] | None = None) -> TrainResult:
    """Train (or resume training) a surrogate model.

    Args:
        request: Data, model directory, config and limits.
        env: Environment variables used to find the data-parallel set-up
            (default ``os.environ``).

    Raises:
        DatasetError: if the data has no usable graphs.
        ModelMismatchError: if ``request.out`` contains a model of another
            config, data file or format version.
        TrainingDivergedError: if the loss or a gradient became non-finite.
        DistributedSetupError: if a data-parallel run cannot start.
    """
    comm = setup_communicator(request.distributed, request.backend, env)
    if not comm.is_main:
        # Other ranks would repeat rank 0's progress lines, so they log warnings and errors only.
        logging.getLogger("engine.surrogate").setLevel(logging.WARNING)
    try:
        return _run(request, comm)
    finally:
        comm.close()


def _run(request: TrainRequest, comm: Communicator) -> TrainResult:
    config = request.config
    directory = ModelDirectory(request.out)
    if not Path(request.data).is_file():
        raise DatasetError(f"data file {request.data} not found")
    data_sha256 = file_sha256(request.data)
    directory.check_compatible(config, data_sha256)
    store = _load_store(request, comm)
    split = _prepare_split(store, config, directory)
    logger.info("split: %s", ", ".join(f"{len(split[part])} {part}" for part in SPLIT_PARTS))

    model = _new_model(config, store, split["train"]).to(comm.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.training.learning_rate,
                                  weight_decay=config.training.weight_decay)
    batch_size = config.data.batch_size
    train_sampler = ShardedBatchSampler(split["train"], batch_size, True, config.training.seed, comm.rank, comm.world_size)
    validation_sampler = ShardedBatchSampler(split["validation"], max(batch_size, 256), False, 0, comm.rank,
                                             comm.world_size, pad=False)
    peak = config.training.learning_rate * (comm.world_size if config.training.scale_learning_rate else 1)
    schedule = WarmupPlateauSchedule(
        peak=peak,
        warmup_steps=int(round(config.training.warmup_epochs * len(train_sampler))),
        start_factor=config.training.warmup_start_factor,
        factor=config.training.plateau_factor,
        patience=config.training.plateau_patience,
        minimum=config.training.min_learning_rate,
    )

    checkpoint = directory.load_checkpoint() if directory.exists() else None
    state = _restore(checkpoint, model, optimizer, schedule, comm) if checkpoint else TrainingState()
    comm.barrier()
    if comm.is_main:
        directory.remove_stale_temporaries()
        if not directory.exists():
            directory.write_metadata(config, _metadata(request, data_sha256, store, model, comm))
        if directory.read_split() is None:
            directory.write_split(_split_to_json(store, split, config))
        directory.rewrite_metrics(state.history)
        if state.best_weights is not None:
            directory.save_weights(state.best_weights, state.best_epoch)

    wrapped = comm.wrap_model(model)
    optimizer = comm.wrap_optimizer(optimizer, model)
    train_loader = make_loader(store, train_sampler, config.data.workers, config.data.prefetch)
    validation_loader = make_loader(store, validation_sampler, config.data.workers, config.data.prefetch)

    last_epoch = config.training.epochs if request.max_epochs is None else min(config.training.epochs, request.max_epochs)
    started = time.monotonic()
    if state.finished:
        logger.info("training already finished after epoch %d (%s)", state.epoch, state.stop_reason)
    for epoch in range(state.epoch + 1, last_epoch + 1):
        if state.finished:
            break
        epoch_started = time.perf_counter()
        train_sampler.set_epoch(epoch)
        train_loss = _train_epoch(wrapped, model, train_loader, optimizer, schedule, state, comm, config, epoch,
                                  request.progress)
        comm.broadcast_buffers(model)
        validation = _validate(model, validation_loader, comm, config.training.loss)
        if not math.isfinite(validation[0]):
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch}: validation loss {validation[0]}; the checkpoint of epoch "
                f"{state.epoch} is kept", epoch, 0)
        learning_rate = schedule.learning_rate(max(state.step - 1, 0))
        schedule.end_epoch(validation[0], state.step)
        improved = validation[0] < state.best_loss
        if improved:
            state.best_loss, state.best_epoch = validation[0], epoch
            state.best_weights = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
            state.epochs_without_improvement = 0
        else:
            state.epochs_without_improvement += 1
        seconds = time.perf_counter() - epoch_started
        row = _epoch_row(epoch, train_loss, validation, learning_rate, seconds)
        state.history.append(row)
        state.epoch = epoch
        if state.epochs_without_improvement >= config.training.early_stopping_patience:
            state.finished, state.stop_reason = True, f"early stopping: no improvement for {state.epochs_without_improvement} epochs"
        elif epoch == config.training.epochs:
            state.finished, state.stop_reason = True, f"completed all {epoch} epochs"

        if comm.is_main:
            directory.save_checkpoint({
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "state": state.to_dict(),
                "world_size": comm.world_size,
            })
            if improved:
                directory.save_weights(state.best_weights, epoch)
            directory.append_metrics(row)
            logger.info(
                "epoch %d/%d: train loss %.4f, validation loss %.4f, validation MAE %.3f kcal/mol, lr %.2e, %.1f s%s",
                epoch, config.training.epochs, train_loss, validation[0], validation[1], learning_rate, seconds,
                " (best)" if improved else "",
            )
        if state.finished:
            break
        if _out_of_time(request, started, seconds, comm):
            state.stop_reason = f"time limit of {request.time_limit_seconds:.0f} s reached after epoch {epoch}"
            break
    else:
        if not state.finished and request.max_epochs is not None:
            state.stop_reason = f"stopped after epoch {state.epoch} as requested (max epochs {request.max_epochs})"

    _check_identical_parameters(model, comm)
    report = None
    if comm.is_main:
        if state.stop_reason:
            logger.info("training stopped: %s", state.stop_reason)
        report = _write_report(directory, config, store, split, state)
    comm.barrier()
    return TrainResult(model, state, report, comm.rank, comm.world_size)


def _out_of_time(request: TrainRequest, started: float, epoch_seconds: float, comm: Communicator) -> bool:
    """Return whether another epoch would end past the time limit, as rank 0's clock decides for all ranks."""
    if request.time_limit_seconds is None:
        return False
    late = time.monotonic() - started + epoch_seconds > request.time_limit_seconds
    flag = torch.tensor([1.0 if (late and comm.is_main) else 0.0])
    return bool(comm.all_reduce(flag, "max")[0] > 0)

"""Job kinds: a registry of parameter models and the engine command each kind runs.

A kind validates its parameters with a pydantic model (``extra="forbid"``,
strict types) and turns them into argv lists, one per task, for
``python -m engine ...``. Parameter names are the engine's option names with
underscores. Output paths are never parameters: each kind writes into the
run folder's ``artifacts/``. The engine or a test can add kinds with
:func:`register_kind`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.errors import JobSpecError
from jobs.fields import (EarlierCache, EarlierModel, EarlierPolicy, FiniteFloat, InputFile, PresetName, PresetOrFile,
                         StartCluster, WeightsFile)
from jobs.store import KIND_NAME_PATTERN

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandContext:
    """What a kind needs to build its argv besides the parameters.

    Attributes:
        python: Python executable that runs ``-m engine``.
        run_dir: The job's run folder, at its path on the machine that runs the job.
        runs_root: The runs root, for parameters that name earlier jobs.
        horovod: Whether multi-rank training should use Horovod.
        n_ranks: Number of ranks the command runs as (1 for a single process).
    """

    python: str
    run_dir: Path
    runs_root: Path
    horovod: bool = False
    n_ranks: int = 1

    @property
    def artifacts_dir(self) -> Path:
        return self.run_dir / "artifacts"

    def engine(self, command: str) -> list[str]:
        """Return the argv prefix that runs an engine subcommand."""
        return [self.python, "-m", "engine", command]


@dataclass(frozen=True)
class JobKind:
    """One kind of job.

    Attributes:
        name: Kind name used in specs and job ids (lowercase letters, digits, ``-``).
        params_model: Pydantic model of the parameters.
        build_commands: Returns one argv per task for validated parameters.
        description: One line for help text.
        multi_rank: Whether the command may run as several ranks (``srun``).
        engine_command: The ``python -m engine`` subcommand, when there is one.
        prepare_artifacts: Called with the parameters, the new run's
            ``artifacts/`` folder and the runs root before the job is
            submitted, to put inputs in place.
    """

    name: str
    params_model: type[BaseModel]
    build_commands: Callable[[BaseModel, CommandContext], list[list[str]]]
    description: str
    multi_rank: bool = False
    engine_command: str | None = None
    prepare_artifacts: Callable[[BaseModel, Path, Path], None] | None = None

    def is_array(self, params: BaseModel) -> bool:
        """Return whether the parameters describe an array job: a non-empty ``starts`` list, one task each."""
        return bool(getattr(params, "starts", None))


_KINDS: dict[str, JobKind] = {}


def register_kind(kind: JobKind, replace: bool = False) -> JobKind:
    """Add ``kind`` to the registry and return it.

    Raises:
        JobSpecError: if the name is taken and ``replace`` is False.
    """
    if not KIND_NAME_PATTERN.fullmatch(kind.name):
        raise JobSpecError(f"invalid kind name {kind.name!r}: use lowercase letters, digits and '-'")
    if kind.name in _KINDS and not replace:
        raise JobSpecError(f"job kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: object) -> JobKind:
    """Return the registered kind called ``name``.

    Raises:
        JobSpecError: naming the known kinds.
    """
    if not isinstance(name, str) or name not in _KINDS:
        raise JobSpecError(f"unknown job kind {name!r}; known kinds: {', '.join(kind_names())}")
    return _KINDS[name]


def unregister_kind(name: str) -> None:
    """Remove a kind from the registry; unknown names are ignored."""
    _KINDS.pop(name, None)


def kind_names() -> list[str]:
    """Return the names of the registered kinds, sorted."""
    return sorted(_KINDS)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- search ---------------------------------------------------------------


class SearchStart(_Params):
    """One start cluster of an array search."""

    start: StartCluster
    frame: int = Field(0, ge=0, le=10_000_000)


class SearchParams(_Params):
    """Parameters of ``python -m engine search``.

    ``starts`` turns the job into an array job with one task per start
    cluster; it replaces ``start`` and ``frame``. ``policy`` names a finished
    ``train-policy`` job whose policy scores the search's actions.
    """

    start: StartCluster = "pentamer"
    frame: int = Field(0, ge=0, le=10_000_000)
    starts: list[SearchStart] | None = Field(None, min_length=1, max_length=10_000)
    target_size: int = Field(ge=2, le=1000)
    branching: int = Field(3, ge=1, le=100)
    weights: WeightsFile | None = None
    min_reward: FiniteFloat | None = None
    no_settle: bool = False
    max_results: int = Field(10, ge=1, le=100_000)
    max_expansions: int = Field(2000, ge=1, le=100_000_000)
    max_seconds: float = Field(120.0, gt=0, le=30 * 24 * 3600)
    policy: EarlierPolicy | None = None

    @model_validator(mode="after")
    def _one_start_form(self) -> "SearchParams":
        if self.starts is not None and ({"start", "frame"} & self.model_fields_set):
            raise ValueError("give either start and frame, or starts (a list for an array job), not both")
        return self


def _search_options(params: SearchParams, runs_root: Path) -> list[str]:
    argv = ["--target-size", str(params.target_size), "--branching", str(params.branching)]
    if params.policy is not None:
        argv += ["--policy", str(runs_root / params.policy / "artifacts" / "policy")]
    if params.weights is not None:
        argv += ["--weights", params.weights]
    if params.min_reward is not None:
        # The '=' form keeps a negative value from reading as an option.
        argv.append(f"--min-reward={params.min_reward!r}")
    if params.no_settle:
        argv.append("--no-settle")
    argv += ["--max-results", str(params.max_results), "--max-expansions", str(params.max_expansions),
             "--max-seconds", repr(params.max_seconds)]
    return argv


def build_search_commands(params: SearchParams, context: CommandContext) -> list[list[str]]:
    """Return one ``engine search`` argv, or one per start cluster for an array job."""
    options = _search_options(params, context.runs_root)
    if params.starts is None:
        out = context.artifacts_dir / "pathways.json"
        return [context.engine("search") + ["--start", params.start, "--frame", str(params.frame), *options,
                                            "--out", str(out)]]
    commands = []
    for index, item in enumerate(params.starts):
        out = context.artifacts_dir / f"pathways-{index}.json"
        commands.append(context.engine("search") + ["--start", item.start, "--frame", str(item.frame), *options,
                                                    "--out", str(out)])
    return commands


# --- train-surrogate -----------------------------------------------------------


class TrainSurrogateParams(_Params):
    """Parameters of ``python -m engine train``.

    ``resume_from`` is the id of an earlier, finished training job. Its model
    folder, without the converted-data cache, is copied into this run's
    ``artifacts/model``, and the engine resumes from that checkpoint. The
    earlier cache is reused in place, unless ``cache_from`` names a
    convert-data job whose ``artifacts/cache`` to use instead. ``time_limit``
    is in minutes, as the engine's ``--time-limit``.
    """

    data: InputFile
    config: InputFile | None = None
    resume_from: EarlierModel | None = None
    cache_from: EarlierCache | None = None
    max_epochs: int | None = Field(None, ge=1, le=1_000_000)
    time_limit: float | None = Field(None, gt=0, le=366 * 24 * 60)
    threads: int | None = Field(None, ge=1, le=1024)


def build_train_surrogate_commands(params: TrainSurrogateParams, context: CommandContext) -> list[list[str]]:
    """Return the ``engine train`` argv writing the model to ``artifacts/model``."""
    argv = context.engine("train") + ["--data", params.data, "--out", str(context.artifacts_dir / "model")]
    if params.config is not None:
        argv += ["--config", params.config]
    cache_dir = None
    if params.cache_from is not None:
        cache_dir = context.runs_root / params.cache_from / "artifacts" / "cache"
    elif params.resume_from is not None and (context.runs_root / params.resume_from / "artifacts" / "model" / "cache").is_dir():
        cache_dir = context.runs_root / params.resume_from / "artifacts" / "model" / "cache"
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    if params.max_epochs is not None:
        argv += ["--max-epochs", str(params.max_epochs)]
    if params.time_limit is not None:
        argv += ["--time-limit", repr(params.time_limit)]
    if params.threads is not None:
        argv += ["--threads", str(params.threads)]
    if context.n_ranks > 1:
        # Under srun the batch step also has SLURM_NTASKS > 1 in its
        # environment, so the engine needs the flag to train data-parallel.
        argv.append("--distributed")
        if context.horovod:
            argv += ["--backend", "horovod"]
    return [argv]


def copy_resumed_model(params: TrainSurrogateParams, artifacts_dir: Path, runs_root: Path) -> None:
    """Copy the model folder of ``resume_from`` (without its cache) into the new run's artifacts."""
    if params.resume_from is None:
        return
    source = runs_root / params.resume_from / "artifacts" / "model"
    shutil.copytree(source, artifacts_dir / "model", symlinks=True, ignore=shutil.ignore_patterns("cache"))
    logger.info("copied model folder %s to resume training", source)


# --- train-policy -------------------------------------------------------------


class TrainPolicyParams(_Params):
    """Parameters of ``python -m engine train-policy``.

    ``reward`` is a preset name or file. ``resume_from`` is the id of an
    earlier, finished policy job whose ``artifacts/policy`` is copied into
    this run's, which the engine then resumes.
    """

    reward: PresetOrFile = "default"
    start: StartCluster = "pentamer"
    frame: int = Field(0, ge=0, le=10_000_000)
    target_size: int = Field(ge=2, le=1000)
    config: InputFile | None = None
    episodes: int | None = Field(None, ge=1, le=1_000_000_000)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    workers: int | None = Field(None, ge=1, le=1024)
    resume_from: EarlierPolicy | None = None


def build_train_policy_commands(params: TrainPolicyParams, context: CommandContext) -> list[list[str]]:
    """Return the ``engine train-policy`` argv writing the policy to ``artifacts/policy``."""
    argv = context.engine("train-policy") + [
        "--reward", params.reward, "--start", params.start, "--frame", str(params.frame),
        "--target-size", str(params.target_size), "--out", str(context.artifacts_dir / "policy")]
    if params.config is not None:
        argv += ["--config", params.config]
    for option, value in (("--episodes", params.episodes), ("--seed", params.seed), ("--workers", params.workers)):
        if value is not None:
            argv += [option, str(value)]
    return [argv]


def copy_resumed_policy(params: TrainPolicyParams, artifacts_dir: Path, runs_root: Path) -> None:
    """Copy the policy folder of ``resume_from`` into the new run's artifacts."""
    if params.resume_from is not None:
        source = runs_root / params.resume_from / "artifacts" / "policy"
        shutil.copytree(source, artifacts_dir / "policy", symlinks=True)
        logger.info("copied policy folder %s to resume training", source)


# --- convert-data --------------------------------------------------------------


class ConvertDataParams(_Params):
    """Parameters of ``python -m engine convert``; the cache goes to ``artifacts/cache``."""

    data: InputFile
    force: bool = False


def build_convert_data_commands(params: ConvertDataParams, context: CommandContext) -> list[list[str]]:
    argv = context.engine("convert") + [params.data, "--cache-dir", str(context.artifacts_dir / "cache")]
    if params.force:
        argv.append("--force")
    return [argv]


# --- fit-reward ----------------------------------------------------------------


class FitRewardParams(_Params):
    """Parameters of ``python -m engine fit-reward``; the preset is written to ``artifacts/NAME.json``."""

    data: InputFile
    name: PresetName = "fitted"
    train_fraction: float = Field(0.8, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    top_k: int = Field(10, ge=1, le=100_000)


def build_fit_reward_commands(params: FitRewardParams, context: CommandContext) -> list[list[str]]:
    return [context.engine("fit-reward") + [
        params.data, "--out", str(context.artifacts_dir / f"{params.name}.json"),
        "--train-fraction", repr(params.train_fraction), "--seed", str(params.seed), "--top-k", str(params.top_k),
    ]]


register_kind(JobKind("search", SearchParams, build_search_commands,
                      "grow start clusters to a target size and write design pathways", engine_command="search"))
register_kind(JobKind("train-surrogate", TrainSurrogateParams, build_train_surrogate_commands,
                      "train the surrogate model", multi_rank=True, engine_command="train",
                      prepare_artifacts=copy_resumed_model))
register_kind(JobKind("train-policy", TrainPolicyParams, build_train_policy_commands,
                      "train a design policy by reinforcement learning", engine_command="train-policy",
                      prepare_artifacts=copy_resumed_policy))
register_kind(JobKind("convert-data", ConvertDataParams, build_convert_data_commands,
                      "convert a dataset into the component cache", engine_command="convert"))
register_kind(JobKind("fit-reward", FitRewardParams, build_fit_reward_commands,
                      "fit reward weights to dataset energies", engine_command="fit-reward"))

"""Surrogate config: model size, data loading, split and training schedule.

The config is a YAML file with three sections, ``model``, ``data`` and
``training``. Every key has a default (see ``configs/surrogate.yaml``). An
unknown key is rejected, and the message lists the known keys of its section. A model
directory stores the full resolved config, and a resumed run must use the
same config (:func:`config_differences`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.surrogate.errors import SurrogateConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Section):
    """Size of the message-passing network."""

    features: int = Field(32, ge=1, description="width of atom and bond states")
    steps: int = Field(8, ge=1, description="number of message-passing steps T")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate on the atom and bond updates")
    size_offsets: bool = Field(True, description="add the mean training energy per cluster size to the output")


class SplitConfig(_Section):
    """Fractions of the train/validation/test split, drawn by ``seed``."""

    train: float = Field(0.8, gt=0.0, lt=1.0)
    validation: float = Field(0.1, gt=0.0, lt=1.0)
    test: float = Field(0.1, gt=0.0, lt=1.0)
    seed: int = 0
    train_limit: int | None = Field(
        None,
        ge=1,
        description="train on at most this many graphs of the training part, for learning curves; "
        "the validation and test parts stay the same",
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {total:g}")
        return self


class DataConfig(_Section):
    """Batching and loading. ``batch_size`` is per process in a data-parallel run."""

    batch_size: int = Field(64, ge=1)
    # Cutting a batch from the flat arrays takes about 0.2 ms (64 graphs), less than
    # sending a DGL graph between processes, so 0 workers is the fastest default
    # (benchmarks/loader_throughput.py on 2 cores).
    workers: int = Field(0, ge=0, description="loader worker processes; 0 collates in the training process")
    prefetch: int = Field(4, ge=1, description="batches each worker prepares ahead")
    split: SplitConfig = SplitConfig()


class TrainingConfig(_Section):
    """Optimiser, learning-rate schedule and stopping rules."""

    epochs: int = Field(200, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0, description="peak learning rate of one process")
    scale_learning_rate: bool = Field(True, description="multiply the learning rate by the number of processes")
    warmup_epochs: float = Field(2.0, ge=0.0, description="linear warm-up length in epochs")
    warmup_start_factor: float = Field(0.1, gt=0.0, le=1.0, description="learning rate at step 0 as a fraction of the peak")
    plateau_factor: float = Field(0.5, gt=0.0, lt=1.0, description="learning-rate factor on a validation plateau")
    plateau_patience: int = Field(5, ge=1, description="epochs without improvement before the learning rate drops")
    min_learning_rate: float = Field(1e-5, ge=0.0)
    early_stopping_patience: int = Field(25, ge=1, description="epochs without improvement before training stops")
    weight_decay: float = Field(0.0, ge=0.0)
    gradient_clip: float | None = Field(10.0, gt=0.0, description="maximum gradient norm, or null for no clipping")
    loss: Literal["mse", "mae"] = "mse"
    seed: int = 0


class SurrogateConfig(_Section):
    """Complete surrogate config."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    training: TrainingConfig = TrainingConfig()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


_SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {
    (): SurrogateConfig,
    ("model",): ModelConfig,
    ("data",): DataConfig,
    ("data", "split"): SplitConfig,
    ("training",): TrainingConfig,
}


def _describe_error(error: dict, where: str) -> str:
    location = tuple(str(part) for part in error["loc"])
    dotted = ".".join(location)
    if error["type"] == "extra_forbidden":
        section = _SECTIONS.get(location[:-1])
        known = ", ".join(section.model_fields) if section else "(none)"
        prefix = ".".join(location[:-1]) or "top level"
        return f"{where}: unknown key {dotted!r}; known keys in {prefix}: {known}"
    return f"{where}: {dotted or 'config'}: {error['msg']} (got {error.get('input')!r})"


def parse_config(data: Any, where: str = "config") -> SurrogateConfig:
    """Validate a config mapping (as read from YAML) and fill in the defaults.

    Raises:
        SurrogateConfigError: naming the first invalid or unknown key.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SurrogateConfigError(f"{where}: expected a mapping with model, data and training sections, got {type(data).__name__}")
    try:
        return SurrogateConfig.model_validate(data)
    except ValidationError as error:
        problems = [_describe_error(item, where) for item in error.errors()]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise SurrogateConfigError(problems[0] + more) from None


def load_config(path: str | Path | None) -> SurrogateConfig:
    """Read a YAML config, or return the defaults when ``path`` is None.

    Raises:
        SurrogateConfigError: if the file is missing, is not YAML or is invalid.
    """
    if path is None:
        return SurrogateConfig()
    path = Path(path)
    if not path.is_file():
        raise SurrogateConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SurrogateConfigError(f"{path}: not valid YAML ({error})") from None
    return parse_config(data, str(path))


def write_config(config: SurrogateConfig, path: str | Path) -> None:
    """Write the full resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(stored: dict, requested: dict) -> list[str]:
    """List the keys whose values differ, as ``key: stored -> requested`` lines.

    Both arguments are plain config dicts (:meth:`SurrogateConfig.to_dict`);
    a key present on one side only is reported as missing on the other.
    """
    left, right = _flatten(stored), _flatten(requested)
    lines = []
    for key in sorted(set(left) | set(right)):
        old = left.get(key, "<missing>")
        new = right.get(key, "<missing>")
        if old != new:
            lines.append(f"{key}: {old!r} in the model directory, {new!r} requested")
    return lines

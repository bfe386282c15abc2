"""The model directory: every file a trained surrogate consists of.

=====================  ===============================================================
file                   contents
=====================  ===============================================================
``model.json``         format version, data file and its SHA-256, per-type means, scale
``config.yaml``        the full resolved config the model was trained with
``split.json``         frames of the train, validation and test graphs
``checkpoint.pt``      state after the last completed epoch, for resuming
``model.pt``           weights with the lowest validation loss, for prediction
``metrics.csv``        one row per completed epoch
``test_report.json``   test errors of the model and the baselines, with parity data
=====================  ===============================================================

Checkpoints and weights are written to a temporary file in the same folder,
flushed to disk and then renamed over the old file with ``os.replace``, so a
run killed while writing leaves the previous file intact.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from engine.surrogate.config import SurrogateConfig, config_differences, parse_config, write_config
from engine.surrogate.errors import ModelMismatchError, SurrogateConfigError

logger = logging.getLogger(__name__)

#: Version of the model-directory layout and checkpoint contents; a directory
#: of another version is rejected.
FORMAT_VERSION = 1
#: Columns of ``metrics.csv``.
METRIC_COLUMNS = ("epoch", "train_loss", "validation_loss", "validation_mae_kcal_mol", "learning_rate", "seconds")
_TEMPORARY_MARK = ".tmp-"
#: Folder of the converted data inside a model directory, unless another cache folder is chosen.
DEFAULT_CACHE_NAME = "cache"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a partial one."""
    temporary = path.with_name(f"{path.name}{_TEMPORARY_MARK}{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _serialise(state: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


class ModelDirectory:
    """Reads and writes the files of one model directory.

    Args:
        path: The directory; created on the first write.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def metadata_path(self) -> Path:
        return self.path / "model.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def split_path(self) -> Path:
        return self.path / "split.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def weights_path(self) -> Path:
        return self.path / "model.pt"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def report_path(self) -> Path:
        return self.path / "test_report.json"

    def exists(self) -> bool:
        """Return whether the directory contains a model (its ``model.json``)."""
        return self.metadata_path.is_file()

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files left by a run killed while writing."""
        if self.path.is_dir():
            for leftover in self.path.glob(f"*{_TEMPORARY_MARK}*"):
                logger.info("removing %s, left by an interrupted write", leftover)
                leftover.unlink(missing_ok=True)

    # --- metadata and config ------------------------------------------------------------------

    def read_metadata(self) -> dict:
        """Read ``model.json`` and check its format version.

        Raises:
            ModelMismatchError: if it is missing, unreadable or of another format version.
        """
        try:
            metadata = json.loads(self.metadata_path.read_text())
        except FileNotFoundError:
            raise ModelMismatchError(f"{self.path} is not a model directory: {self.metadata_path.name} not found") from None
        except ValueError as error:
            raise ModelMismatchError(f"{self.metadata_path}: not valid JSON ({error})") from None
        version = metadata.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelMismatchError(
                f"{self.path}: model directory format version {version!r} differs from the version this "
                f"program reads ({FORMAT_VERSION}); train a new model"
            )
        return metadata

    def read_config(self) -> SurrogateConfig:
        """Read the stored config.

        Raises:
            ModelMismatchError: if it is missing or does not fit the current config schema.
        """
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except FileNotFoundError:
            raise ModelMismatchError(f"{self.path}: {self.config_path.name} not found") from None
        try:
            return parse_config(data, str(self.config_path))
        except SurrogateConfigError as error:
            raise ModelMismatchError(f"the stored config no longer fits this program: {error}") from None

    def check_compatible(self, config: SurrogateConfig, data_sha256: str) -> None:
        """Check that a run with ``config`` on data with ``data_sha256`` may continue this directory.

        An empty or missing directory is compatible, and so is one that contains
        only the default data cache (``cache``), which is written before
        ``model.json``. A directory with other files but no ``model.json`` is not.

        Raises:
            ModelMismatchError: naming every config key, the data file or the
                format version that differs.
        """
        if not self.exists():
            entries = self.path.iterdir() if self.path.is_dir() else []
            foreign = [p.name for p in entries if p.name != DEFAULT_CACHE_NAME and _TEMPORARY_MARK not in p.name]
            if foreign:
                raise ModelMismatchError(
                    f"{self.path} is not empty and is not a model directory (no model.json); "
                    f"choose a new --out folder"
                )
            return
        metadata = self.read_metadata()
        stored = self.read_config()
        problems = config_differences(stored.to_dict(), config.to_dict())
        if metadata.get("data", {}).get("sha256") != data_sha256:
            problems.append(
                f"data file: sha256 {metadata.get('data', {}).get('sha256')} "
                f"({metadata.get('data', {}).get('path')}) in the model directory, {data_sha256} requested"
            )
        if problems:
            raise ModelMismatchError(
                f"{self.path} was trained with a different setup; use a new --out folder or the same "
                f"config and data. Differences: " + "; ".join(problems)
            )

    def write_metadata(self, config: SurrogateConfig, metadata: dict) -> None:
        """Write ``config.yaml`` and ``model.json`` (with the format version added)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_config(config, self.config_path)
        atomic_write_text(self.metadata_path, json.dumps({"format_version": FORMAT_VERSION, **metadata}, indent=2) + "\n")

    # --- split ---------------------------------------------------------------------------------

    def write_split(self, split: dict) -> None:
        atomic_write_text(self.split_path, json.dumps(split) + "\n")

    def read_split(self) -> dict | None:
        if not self.split_path.is_file():
            return None
        return json.loads(self.split_path.read_text())

    # --- checkpoints and weights ---------------------------------------------------------------

    def save_checkpoint(self, state: dict) -> None:
        """Write the resumable training state atomically."""
        atomic_write_bytes(self.checkpoint_path, _serialise(state))

    def load_checkpoint(self) -> dict | None:
        """Read the last checkpoint, or return None when there is none."""
        if not self.checkpoint_path.is_file():
            return None
        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)

    def save_weights(self, state_dict: dict, epoch: int) -> None:
        """Write the weights used for prediction atomically."""
        atomic_write_bytes(self.weights_path, _serialise({"epoch": epoch, "state_dict": state_dict}))

    def load_weights(self) -> dict:
        """Read the weights used for prediction.

        Raises:
            ModelMismatchError: if ``model.pt`` is missing.
        """
        if not self.weights_path.is_file():
            raise ModelMismatchError(f"{self.path}: {self.weights_path.name} not found; no epoch has completed yet")
        return torch.load(self.weights_path, map_location="cpu", weights_only=True)

    # --- metrics and report --------------------------------------------------------------------

    def rewrite_metrics(self, rows: list[dict]) -> None:
        """Replace ``metrics.csv`` by ``rows``, one per completed epoch."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in METRIC_COLUMNS} for row in rows)
        atomic_write_text(self.metrics_path, buffer.getvalue())

    def append_metrics(self, row: dict) -> None:
        """Append one epoch's row to ``metrics.csv``, writing the header first when the file is new."""
        new = not self.metrics_path.is_file()
        with open(self.metrics_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({key: row[key] for key in METRIC_COLUMNS})

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.is_file():
            return []
        with open(self.metrics_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def write_report(self, report: dict) -> None:
        atomic_write_text(self.report_path, json.dumps(report, indent=2) + "\n")


def weights_version(path: str | Path) -> str:
    """Return a key of a model folder that changes when its ``model.pt`` is rewritten.

    The key is the resolved folder and the file's modification time (0 when
    the file is missing), which is cheaper than :func:`model_digest` for
    in-memory caches.
    """
    try:
        modified = ModelDirectory(path).weights_path.stat().st_mtime_ns
    except OSError:
        modified = 0
    return f"{Path(path).resolve()}|{modified}"


def model_digest(path: str | Path) -> str:
    """Return the SHA-256 of a model directory's weights file, which changes whenever the model is retrained.

    Raises:
        ModelMismatchError: if the folder has no readable ``model.pt``.
    """
    weights = ModelDirectory(path).weights_path
    digest = hashlib.sha256()
    try:
        with open(weights, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise ModelMismatchError(f"{path} is not a usable model folder: cannot read {weights.name} ({error.strerror})") from None
    return digest.hexdigest()

"""Exceptions of the surrogate model.

Problems with the request (a bad config, a model directory that does not fit,
a dataset without usable graphs) subclass :class:`engine.errors.InputError`,
so the command line prints them as one ``error: ...`` line and exits with
status 2. A run that fails while training raises :class:`TrainingError`.
"""

from __future__ import annotations

from engine.errors import InputError


class SurrogateConfigError(InputError):
    """A surrogate config file that is missing, unreadable or invalid."""


class ModelMismatchError(InputError):
    """A model directory that does not fit the request: another config, data file or format version."""


class DatasetError(InputError):
    """A dataset that the surrogate cannot use, such as one with no usable graphs."""


class DistributedSetupError(InputError):
    """A data-parallel run that cannot start: a missing backend or an incomplete environment."""


class TrainingError(RuntimeError):
    """Training stopped because it cannot go on."""


class TrainingDivergedError(TrainingError):
    """The loss or a gradient became NaN or infinite; the last good checkpoint is kept.

    Attributes:
        epoch: Epoch (from 1) in which the non-finite value appeared.
        batch: Batch (from 1) within that epoch.
    """

    def __init__(self, message: str, epoch: int, batch: int):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch

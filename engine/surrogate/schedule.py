"""Learning-rate schedule: linear warm-up per step, then reduce on plateau per epoch."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class WarmupPlateauSchedule:
    """Linear warm-up followed by reduce-on-plateau.

    During the first ``warmup_steps`` optimiser steps the learning rate rises
    linearly from ``start_factor * peak`` to ``peak``. After that it stays at
    its plateau value, which :meth:`end_epoch` multiplies by ``factor`` (not
    below ``minimum``) when the validation loss has not improved by a relative
    ``threshold`` for more than ``patience`` epochs, as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau`` does. Epochs that end inside
    the warm-up do not count towards the patience.

    Attributes:
        peak: Learning rate at the end of the warm-up.
        warmup_steps: Length of the warm-up in optimiser steps (0 for none).
        start_factor: Learning rate at step 0 as a fraction of ``peak``.
        factor: Multiplier applied on a plateau.
        patience: Epochs without improvement tolerated before a reduction.
        minimum: Lowest learning rate.
        threshold: Relative improvement that counts as better.
        plateau_value: Current learning rate after the warm-up.
        best: Lowest validation loss seen after the warm-up.
        bad_epochs: Epochs since ``best`` improved.
    """

    peak: float
    warmup_steps: int
    start_factor: float
    factor: float
    patience: int
    minimum: float
    threshold: float = 1e-4
    plateau_value: float = 0.0
    best: float = float("inf")
    bad_epochs: int = 0

    def __post_init__(self) -> None:
        if self.plateau_value == 0.0:
            self.plateau_value = self.peak

    def learning_rate(self, step: int) -> float:
        """Learning rate for optimiser step ``step`` (from 0)."""
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return self.peak * (self.start_factor + (1.0 - self.start_factor) * fraction)
        return self.plateau_value

    def end_epoch(self, validation_loss: float, step: int) -> bool:
        """Record an epoch's validation loss; returns True when the learning rate was reduced."""
        if step < self.warmup_steps:
            return False
        if validation_loss < self.best * (1.0 - self.threshold):
            self.best = validation_loss
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs <= self.patience:
            return False
        self.bad_epochs = 0
        reduced = max(self.plateau_value * self.factor, self.minimum)
        changed = reduced < self.plateau_value
        self.plateau_value = reduced
        return changed

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)

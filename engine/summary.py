"""The flat per-cluster record shared by ``describe``, pathway steps and the dashboard."""

from __future__ import annotations

from engine.descriptors import Descriptors
from engine.reward import RewardBreakdown

#: Keys of the flat record, in output order. Later versions keep these keys.
DESCRIPTOR_KEYS = (
    "n_waters",
    "n_hbonds",
    "degree_mean",
    "degree_variance",
    "degree_histogram",
    "rings_3",
    "rings_4",
    "rings_5",
    "rings_6",
    "connected",
    "diameter",
    "aspl",
    "wiener_index",
)


def describe_record(descriptors: Descriptors, reward: RewardBreakdown) -> dict:
    """Return the descriptor keys plus ``reward`` and ``reward_components`` (name to weighted value)."""
    values = descriptors.as_dict()
    record = {key: values[key] for key in DESCRIPTOR_KEYS}
    record["reward"] = reward.total
    record["reward_components"] = dict(reward.components)
    return record

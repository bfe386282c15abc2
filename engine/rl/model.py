"""A trained policy as the model M of SEARCH."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.errors import InputError
from engine.graphs import WaterGraph
from engine.reward import RewardWeights
from engine.rl.policy import FEATURE_LAYOUT_VERSION, FEATURE_NAMES, PolicyNetwork, encode
from engine.search import Action


class PolicyModel:
    """Scores search actions with a trained policy network.

    Args:
        policy_dir: A folder written by :class:`engine.rl.train.PolicyTrainer`.
        weights: The reward the search uses; it must be the one the policy
            was trained for (None skips the check).

    Raises:
        InputError: if the folder is incomplete, was written for another
            feature layout, or was trained for another reward.
    """

    name = "learned-policy"

    def __init__(self, policy_dir: str | Path, weights: RewardWeights | None = None):
        self.policy_dir = Path(policy_dir)
        for required in ("config.json", "reward.json", "layout.json", "policy.pt"):
            if not (self.policy_dir / required).is_file():
                raise InputError(f"{self.policy_dir}: not a policy folder ({required} is missing)")
        layout = json.loads((self.policy_dir / "layout.json").read_text())
        expected = {"feature_names": list(FEATURE_NAMES), "feature_layout_version": FEATURE_LAYOUT_VERSION}
        differing = [key for key, value in expected.items() if layout.get(key) != value]
        if differing:
            raise InputError(
                f"{self.policy_dir}: the policy was trained for another feature layout "
                f"(differs in: {', '.join(differing)}; policy has version {layout.get('feature_layout_version')}, "
                f"this engine uses {FEATURE_LAYOUT_VERSION}); train it again"
            )
        self.trained_weights = RewardWeights.from_dict(json.loads((self.policy_dir / "reward.json").read_text()))
        if weights is not None and weights != self.trained_weights:
            names = sorted(set(weights.weights) | set(self.trained_weights.weights))
            differing = [n for n in names if weights.weight(n) != self.trained_weights.weight(n)]
            if weights.degree_target != self.trained_weights.degree_target:
                differing.append("degree_target")
            if (weights.surrogate_weight, weights.surrogate_model) != (
                self.trained_weights.surrogate_weight, self.trained_weights.surrogate_model
            ):
                differing.append("surrogate")
            raise InputError(
                f"{self.policy_dir}: the policy was trained for another reward (weights differ in: "
                f"{', '.join(differing)}); search with the policy's reward or train a policy for this one"
            )
        config = json.loads((self.policy_dir / "config.json").read_text())
        self.target_size = int(layout["target_size"])
        self.network = PolicyNetwork(config["hidden"], config["layers"])
        self.network.load_state_dict(torch.load(self.policy_dir / "policy.pt", weights_only=True))
        self.network.eval()
        self.feature_cache: dict = {}
        self.evaluations = 0

    def score_actions(self, graph: WaterGraph, actions: list[Action]) -> list[float]:
        """Return the policy's Q-value of each action."""
        with torch.no_grad():
            scores = self.network.action_scores(encode([(graph, actions)], self.target_size, self.feature_cache))[0]
        return scores.tolist()

"""The environment that grows a water graph one hydrogen bond at a time.

State: a directed water graph. Actions: add a bond ``donor -> acceptor``
between two existing waters, or between an existing water and a new one
(index ``n_waters``), or stop. Invalid actions (a water donating or
accepting more than 2 bonds, a second bond between the same pair, a self
bond) are masked: :meth:`GrowthEnv.valid_actions` never lists them and
:meth:`GrowthEnv.step` rejects them. New waters are not offered once the
graph has the target size, and stop is offered only then. Below the target
size, a bond between existing waters that would use up the last free
donor or acceptor slot is masked too, because no new water could attach
after it.

The episode ends when the agent stops at the target size, when no valid
action is left, or after ``max_steps`` steps.

Rewards come from an engine reward preset. In ``"delta"`` mode (the
default) each step earns the change of the graph reward, so an episode's
return is the final reward minus the start reward; in ``"final"`` mode only
the last step earns the final graph's reward. A reward that is not finite
ends the episode with a logged warning and earns 0.

Degrees and the set of bonded pairs are updated incrementally at each step;
the full descriptors are computed only for the graphs that are scored.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.errors import InputError
from engine.graphs import MAX_ACCEPTED, MAX_DONATED, WaterGraph
from engine.reward import RewardWeights, score
from engine.search import Action

logger = logging.getLogger(__name__)

#: The stop action.
STOP = Action(-1, -1)


@dataclass
class StepResult:
    """Outcome of one environment step.

    Attributes:
        graph: The graph after the step.
        reward: Reward earned by the step.
        done: Whether the episode has ended.
        graph_reward: The engine reward of ``graph`` (NaN when not finite).
        invalid_reward: Whether the reward was not finite.
    """

    graph: WaterGraph
    reward: float
    done: bool
    graph_reward: float
    invalid_reward: bool = False


class GrowthEnv:
    """Grows a water graph from a start graph to a target size.

    Args:
        start: The start graph; it must be valid.
        target_size: Number of waters of a finished graph, at least the start's.
        weights: Reward weights.
        max_steps: Step limit of an episode.
        reward_mode: ``"delta"`` or ``"final"``.
        reward_function: Optional replacement for the engine reward, called
            as ``reward_function(graph) -> float`` (used to add the
            surrogate's prediction or in tests).

    Raises:
        InputError: for an invalid start graph or a target below the start size.
    """

    def __init__(
        self,
        start: WaterGraph,
        target_size: int,
        weights: RewardWeights,
        max_steps: int = 40,
        reward_mode: Literal["delta", "final"] = "delta",
        reward_function=None,
    ):
        problems = start.validity_problems()
        if problems:
            raise InputError(f"start graph is not valid: {'; '.join(problems)}")
        if target_size < start.n_waters:
            raise InputError(f"target size {target_size} is below the start graph's {start.n_waters} waters")
        if reward_mode not in ("delta", "final"):
            raise InputError(f"reward mode must be 'delta' or 'final', got {reward_mode!r}")
        if max_steps < 1:
            raise InputError(f"max_steps must be at least 1, got {max_steps}")
        self.start = start
        self.target_size = target_size
        self.weights = weights
        self.max_steps = max_steps
        self.reward_mode = reward_mode
        self.reward_function = reward_function or (lambda graph: score(graph, weights).total)
        self.steps_taken = 0
        self.reset()

    def reset(self) -> WaterGraph:
        """Start a new episode from the start graph and return it."""
        self.graph = self.start
        self.steps = 0
        self.done = False
        self.out_degrees = self.start.out_degrees()
        self.in_degrees = self.start.in_degrees()
        self.bonded = {(min(d, a), max(d, a)) for d, a in self.start.hbonds}
        self.current_reward = self._reward(self.start)
        return self.graph

    def _reward(self, graph: WaterGraph) -> float:
        return float(self.reward_function(graph))

    def valid_actions(self) -> list[Action]:
        """List the valid actions of the current state, stop last when offered."""
        n = self.graph.n_waters
        can_donate = np.flatnonzero(self.out_degrees < MAX_DONATED).tolist()
        can_accept = set(np.flatnonzero(self.in_degrees < MAX_ACCEPTED).tolist())
        actions = [
            Action(d, a)
            for d in can_donate
            for a in sorted(can_accept)
            if a != d and (min(d, a), max(d, a)) not in self.bonded
        ]
        if n < self.target_size:
            # Keep a free slot for the next new water (see engine.search.valid_actions).
            free_slots = int((MAX_DONATED - self.out_degrees).sum() + (MAX_ACCEPTED - self.in_degrees).sum())
            if free_slots <= 2:
                actions = []
            actions += [Action(d, n) for d in can_donate]
            actions += [Action(n, a) for a in sorted(can_accept)]
        else:
            actions.append(STOP)
        return actions

    def is_valid(self, action: Action) -> bool:
        """Check whether ``action`` is valid in the current state."""
        if action == STOP:
            return self.graph.n_waters == self.target_size
        n = self.graph.n_waters
        d, a = action.donor, action.acceptor
        if d == a or not (0 <= d <= n and 0 <= a <= n):
            return False
        if n in (d, a) and n >= self.target_size:
            return False
        if d < n and self.out_degrees[d] >= MAX_DONATED:
            return False
        if a < n and self.in_degrees[a] >= MAX_ACCEPTED:
            return False
        if (min(d, a), max(d, a)) in self.bonded:
            return False
        if d < n and a < n and n < self.target_size:
            free_slots = int((MAX_DONATED - self.out_degrees).sum() + (MAX_ACCEPTED - self.in_degrees).sum())
            return free_slots > 2
        return True

    def step(self, action: Action) -> StepResult:
        """Apply ``action`` and return the new state, the step reward and whether the episode ended.

        Raises:
            InputError: for an invalid action or a step after the episode ended.
        """
        if self.done:
            raise InputError("the episode has ended; call reset() first")
        if not self.is_valid(action):
            raise InputError(f"invalid action {action.donor} -> {action.acceptor} in a graph of {self.graph.n_waters} waters")
        self.steps += 1
        self.steps_taken += 1
        if action == STOP:
            self.done = True
            final = self.current_reward if self.reward_mode == "final" else 0.0
            return StepResult(self.graph, final, True, self.current_reward)

        self._apply(action)
        new_reward = self._reward(self.graph)
        if not math.isfinite(new_reward):
            logger.warning("reward is not finite after step %d (%s); ending the episode", self.steps, action)
            self.done = True
            return StepResult(self.graph, 0.0, True, float("nan"), invalid_reward=True)

        gained = new_reward - self.current_reward
        self.current_reward = new_reward
        out_of_steps = self.steps >= self.max_steps
        no_actions = not self.valid_actions()
        self.done = out_of_steps or no_actions
        if self.reward_mode == "final":
            gained = new_reward if self.done else 0.0
        return StepResult(self.graph, gained, self.done, new_reward)

    def _apply(self, action: Action) -> None:
        n = self.graph.n_waters
        if n in (action.donor, action.acceptor):
            self.out_degrees = np.append(self.out_degrees, 0)
            self.in_degrees = np.append(self.in_degrees, 0)
        self.out_degrees[action.donor] += 1
        self.in_degrees[action.acceptor] += 1
        self.bonded.add((min(action.donor, action.acceptor), max(action.donor, action.acceptor)))
        self.graph = WaterGraph(self.graph.n_waters + (1 if n in (action.donor, action.acceptor) else 0),
                                self.graph.hbonds + ((action.donor, action.acceptor),))

"""Training M_RL with double DQN: replay, a target network and epsilon-greedy exploration.

Why a value-based method: the action set changes size at every step (all
valid bonds plus stop), which a Q-network over (state, action) pairs
handles directly, and replay reuses the expensive reward evaluations.
Double DQN picks the next action with the online network and evaluates it
with the target network, which curbs the over-estimation of plain DQN.

Training runs in rounds. Each round rolls out ``episodes_per_round``
episodes with the current weights (in worker processes when more than one
core is available or ``workers`` > 1; each episode is seeded from the run
seed and its number, so a run is reproducible whatever the number of
workers), adds their transitions to
the replay buffer, takes gradient steps, appends one metrics row per
episode to ``metrics.csv`` and writes a checkpoint (to a temporary file,
then renamed). A killed run resumes from its last checkpoint when started
again with the same output folder.

Policy folder:

``config.json``
    The training configuration.
``reward.json``
    The reward weights the policy was trained for.
``layout.json``
    Feature names and layout version, start graph and target size.
``checkpoint.pt``
    Everything needed to resume.
``policy.pt``
    The online network's weights, for search.
``metrics.csv``
    One row per episode.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import multiprocessing
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import InputError
from engine.graphs import WaterGraph
from engine.reward import RewardWeights
from engine.rl.env import GrowthEnv
from engine.rl.policy import FEATURE_LAYOUT_VERSION, FEATURE_NAMES, PolicyNetwork, encode
from engine.search import Action

logger = logging.getLogger(__name__)

METRIC_FIELDS = ("episode", "return", "final_reward", "best_final_reward", "epsilon", "loss", "steps", "seconds", "invalid_reward")


class PolicyConfig(BaseModel):
    """Settings of a policy training run."""

    model_config = ConfigDict(extra="forbid")

    episodes: int = Field(300, ge=1, description="episodes to train")
    episodes_per_round: int = Field(2, ge=1, description="episodes rolled out between two checkpoints")
    workers: int = Field(0, ge=0, description="rollout worker processes; 0 uses one per core, at most episodes_per_round")
    gamma: float = Field(1.0, gt=0.0, le=1.0, description="discount factor")
    learning_rate: float = Field(1e-3, gt=0.0, description="Adam learning rate")
    batch_size: int = Field(32, ge=1, description="transitions per gradient step")
    gradient_steps_per_episode: int = Field(4, ge=0, description="gradient steps per rolled-out episode")
    replay_size: int = Field(20000, ge=1, description="replay buffer capacity, transitions")
    warmup_transitions: int = Field(200, ge=0, description="transitions collected before learning starts")
    target_update_rounds: int = Field(5, ge=1, description="rounds between target network updates")
    epsilon_start: float = Field(1.0, ge=0.0, le=1.0, description="exploration rate of the first episode")
    epsilon_end: float = Field(0.05, ge=0.0, le=1.0, description="final exploration rate")
    epsilon_decay_episodes: int = Field(200, ge=1, description="episodes over which epsilon decays linearly")
    hidden: int = Field(64, ge=1, description="width of the network")
    layers: int = Field(3, ge=1, description="message-passing layers")
    max_steps: int = Field(40, ge=1, description="step limit of an episode")
    reward_mode: Literal["delta", "final"] = Field("delta", description="reward per step as the change, or only at the end")
    seed: int = Field(0, description="seed of every random generator")


def load_policy_config(path: str | Path | None, overrides: dict | None = None) -> PolicyConfig:
    """Read a YAML configuration (or take the defaults) and apply overrides.

    Raises:
        InputError: naming the unknown or invalid field.
    """
    data = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise InputError(f"{path}: cannot read the policy configuration ({error})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: the policy configuration must be a mapping of settings")
    data.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return PolicyConfig(**data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        known = ", ".join(PolicyConfig.model_fields)
        raise InputError(f"policy configuration field {field!r}: {first['msg']} (known fields: {known})") from None


def epsilon_at(config: PolicyConfig, episode: int) -> float:
    """Linear decay from ``epsilon_start`` to ``epsilon_end``."""
    fraction = min(episode / config.epsilon_decay_episodes, 1.0)
    return config.epsilon_start + fraction * (config.epsilon_end - config.epsilon_start)


@dataclass
class Transition:
    state: WaterGraph
    action: Action
    reward: float
    next_state: WaterGraph
    done: bool
    next_actions: list[Action]


def choose_action(network: PolicyNetwork, graph: WaterGraph, actions: list[Action], target_size: int,
                  epsilon: float, rng: random.Random, feature_cache: dict) -> Action:
    """Epsilon-greedy choice among the valid actions."""
    if rng.random() < epsilon:
        return actions[rng.randrange(len(actions))]
    with torch.no_grad():
        scores = network.action_scores(encode([(graph, actions)], target_size, feature_cache))[0]
    return actions[int(torch.argmax(scores))]


def run_episode(network: PolicyNetwork, env: GrowthEnv, epsilon: float, seed: int) -> tuple[list[Transition], dict]:
    """Roll out one episode; return its transitions and summary."""
    rng = random.Random(seed)
    feature_cache: dict = {}
    graph = env.reset()
    transitions = []
    total = 0.0
    invalid = False
    actions = env.valid_actions()
    while True:
        action = choose_action(network, graph, actions, env.target_size, epsilon, rng, feature_cache)
        result = env.step(action)
        next_actions = [] if result.done else env.valid_actions()
        transitions.append(Transition(graph, action, result.reward, result.graph, result.done, next_actions))
        total += result.reward
        invalid = invalid or result.invalid_reward
        graph, actions = result.graph, next_actions
        if result.done:
            break
    summary = {"return": total, "final_reward": env.current_reward, "steps": env.steps, "invalid_reward": invalid,
               "final_graph": graph}
    return transitions, summary


_worker_state: dict = {}


def _init_worker(start: WaterGraph, target_size: int, weights: RewardWeights, config: PolicyConfig) -> None:
    torch.set_num_threads(1)
    _worker_state["env"] = GrowthEnv(start, target_size, weights, config.max_steps, config.reward_mode)
    _worker_state["network"] = PolicyNetwork(config.hidden, config.layers)


def _worker_episode(job: tuple[dict, float, int]):
    state_dict, epsilon, seed = job
    network = _worker_state["network"]
    network.load_state_dict(state_dict)
    network.eval()
    return run_episode(network, _worker_state["env"], epsilon, seed)


class PolicyTrainer:
    """Runs or resumes a policy training into a folder.

    Raises:
        InputError: if the folder contains a run with another configuration,
            reward, start graph or target size.
    """

    def __init__(self, out_dir: str | Path, start: WaterGraph, target_size: int, weights: RewardWeights,
                 config: PolicyConfig, start_label: str = "pentamer", reward_function=None):
        self.out_dir = Path(out_dir)
        self.start = start
        self.target_size = target_size
        self.weights = weights
        self.config = config
        self.reward_function = reward_function
        self.env = GrowthEnv(start, target_size, weights, config.max_steps, config.reward_mode, reward_function)
        self.layout = {
            "feature_names": list(FEATURE_NAMES),
            "feature_layout_version": FEATURE_LAYOUT_VERSION,
            "target_size": target_size,
            "start": start_label,
            "start_graph": start.to_dict(),
        }
        torch.manual_seed(config.seed)
        self.online = PolicyNetwork(config.hidden, config.layers)
        self.target = PolicyNetwork(config.hidden, config.layers)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        self.replay: list[Transition] = []
        self.episode = 0
        self.rounds = 0
        self.best_final_reward = -math.inf
        self.sample_rng = random.Random(config.seed + 1)
        self.feature_cache: dict = {}
        self._prepare_folder()

    # Folder and checkpoints -------------------------------------------------

    def _prepare_folder(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        identity = {
            "config.json": self.config.model_dump(),
            "reward.json": self.weights.to_dict(),
            "layout.json": self.layout,
        }
        for name, content in identity.items():
            path = self.out_dir / name
            if path.exists():
                existing = json.loads(path.read_text())
                if existing != json.loads(json.dumps(content)):
                    differing = sorted(k for k in set(existing) | set(content) if existing.get(k) != content.get(k))
                    raise InputError(
                        f"{self.out_dir} contains a policy run with a different {name[:-5]} "
                        f"(differs in: {', '.join(differing)}); use a new output folder"
                    )
            else:
                path.write_text(json.dumps(content, indent=2) + "\n")
        checkpoint = self.out_dir / "checkpoint.pt"
        if checkpoint.exists():
            self._load_checkpoint(checkpoint)

    def _load_checkpoint(self, path: Path) -> None:
        state = torch.load(path, weights_only=False)
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.replay = [Transition(WaterGraph.from_dict(t[0]), Action(*t[1]), t[2], WaterGraph.from_dict(t[3]), t[4],
                                  [Action(*a) for a in t[5]]) for t in state["replay"]]
        self.episode = state["episode"]
        self.rounds = state["rounds"]
        self.best_final_reward = state["best_final_reward"]
        self.sample_rng.setstate(state["sample_rng"])
        torch.set_rng_state(state["torch_rng"])
        self._truncate_metrics(self.episode)
        logger.info("resumed policy training from episode %d", self.episode)

    def _truncate_metrics(self, episodes: int) -> None:
        path = self.out_dir / "metrics.csv"
        if not path.exists():
            return
        rows = list(csv.DictReader(path.open()))
        kept = [row for row in rows if int(row["episode"]) <= episodes]
        if len(kept) != len(rows):
            self._write_metrics(kept, mode="w")

    def _write_checkpoint(self) -> None:
        state = {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": [(t.state.to_dict(), (t.action.donor, t.action.acceptor), t.reward, t.next_state.to_dict(), t.done,
                        [(a.donor, a.acceptor) for a in t.next_actions]) for t in self.replay],
            "episode": self.episode,
            "rounds": self.rounds,
            "best_final_reward": self.best_final_reward,
            "sample_rng": self.sample_rng.getstate(),
            "torch_rng": torch.get_rng_state(),
        }
        for name, content in (("checkpoint.pt", state), ("policy.pt", self.online.state_dict())):
            partial = self.out_dir / (name + ".partial")
            torch.save(content, partial)
            os.replace(partial, self.out_dir / name)

    def _write_metrics(self, rows: list[dict], mode: str = "a") -> None:
        path = self.out_dir / "metrics.csv"
        new_file = mode == "w" or not path.exists()
        with path.open(mode, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_FIELDS)
            if new_file:
                writer.writeheader()
            writer.writerows(rows)

    # Learning ---------------------------------------------------------------

    def _learn(self, steps: int) -> float | None:
        if len(self.replay) < max(self.config.warmup_transitions, self.config.batch_size) or steps == 0:
            return None
        losses = []
        self.online.train()
        for _ in range(steps):
            batch = self.sample_rng.sample(self.replay, self.config.batch_size)
            current = self.online.action_scores(
                encode([(t.state, [t.action]) for t in batch], self.target_size, self.feature_cache))
            chosen = torch.stack([scores[0] for scores in current])
            targets = torch.tensor([t.reward for t in batch], dtype=torch.float32)
            pending = [i for i, t in enumerate(batch) if not t.done and t.next_actions]
            if pending:
                states = [(batch[i].next_state, batch[i].next_actions) for i in pending]
                with torch.no_grad():
                    encoded = encode(states, self.target_size, self.feature_cache)
                    online_next = self.online.action_scores(encoded)
                    target_next = self.target.action_scores(encoded)
                for row, i in enumerate(pending):
                    best = int(torch.argmax(online_next[row]))
                    targets[i] += self.config.gamma * float(target_next[row][best])
            loss = torch.nn.functional.smooth_l1_loss(chosen, targets)
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.online.parameters(), 10.0)
            self.optimizer.step()
            losses.append(float(loss))
        if len(self.feature_cache) > 50000:
            self.feature_cache.clear()
        return float(np.mean(losses))

    def _rollouts(self, episodes: list[int], pool) -> list[tuple[list[Transition], dict]]:
        epsilons = [epsilon_at(self.config, e) for e in episodes]
        seeds = [self.config.seed * 1_000_003 + e for e in episodes]
        self.online.eval()
        if pool is None:
            return [run_episode(self.online, self.env, eps, seed) for eps, seed in zip(epsilons, seeds)]
        state = {k: v.clone() for k, v in self.online.state_dict().items()}
        return pool.map(_worker_episode, [(state, eps, seed) for eps, seed in zip(epsilons, seeds)])

    def train(self, progress=None, should_stop=None) -> dict:
        """Train until ``config.episodes`` episodes are done; return a summary.

        Args:
            progress: Called as ``progress(episode, total, metrics_row)`` after each episode.
            should_stop: Called between rounds; training ends early after a
                checkpoint when it returns True.
        """
        config = self.config
        pool = None
        workers = config.workers or min(os.cpu_count() or 1, config.episodes_per_round)
        if workers > 1 and self.reward_function is None:
            context = multiprocessing.get_context("fork")
            pool = context.Pool(workers, _init_worker, (self.start, self.target_size, self.weights, config))
        started = time.perf_counter()
        steps_run = 0
        try:
            while self.episode < config.episodes:
                round_started = time.perf_counter()
                episodes = list(range(self.episode, min(self.episode + config.episodes_per_round, config.episodes)))
                results = self._rollouts(episodes, pool)
                steps_run += sum(summary["steps"] for _, summary in results)
                for transitions, _ in results:
                    self.replay.extend(transitions)
                del self.replay[: max(0, len(self.replay) - config.replay_size)]
                loss = self._learn(config.gradient_steps_per_episode * len(episodes))
                self.rounds += 1
                if self.rounds % config.target_update_rounds == 0:
                    self.target.load_state_dict(self.online.state_dict())

                rows = []
                seconds = (time.perf_counter() - round_started) / len(episodes)
                for episode, (_, summary) in zip(episodes, results):
                    if not summary["invalid_reward"]:
                        self.best_final_reward = max(self.best_final_reward, summary["final_reward"])
                    rows.append({
                        "episode": episode + 1,
                        "return": round(summary["return"], 6),
                        "final_reward": round(summary["final_reward"], 6),
                        "best_final_reward": round(self.best_final_reward, 6),
                        "epsilon": round(epsilon_at(config, episode), 6),
                        "loss": "" if loss is None else round(loss, 6),
                        "steps": summary["steps"],
                        "seconds": round(seconds, 4),
                        "invalid_reward": int(summary["invalid_reward"]),
                    })
                self.episode = episodes[-1] + 1
                self._write_metrics(rows)
                self._write_checkpoint()
                for row in rows:
                    logger.info("episode %(episode)d: return %(return).3f, final reward %(final_reward).3f, "
                                "best %(best_final_reward).3f, epsilon %(epsilon).3f", row)
                    if progress is not None:
                        progress(row["episode"], config.episodes, row)
                if should_stop is not None and should_stop():
                    break
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        return {"episodes": self.episode, "best_final_reward": self.best_final_reward,
                "seconds": time.perf_counter() - started, "environment_steps": steps_run}

"""Growth environment, policy network, policy training, learned search and enumeration."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.descriptors import describe
from engine.enumeration import best_graphs, find_geng, orient, undirected_graphs
from engine.errors import InputError
from engine.graphs import WaterGraph, same_network
from engine.reward import DEFAULT_WEIGHTS, RewardWeights, score
from engine.rl.env import STOP, GrowthEnv
from engine.rl.model import PolicyModel
from engine.rl.policy import PolicyNetwork, encode
from engine.rl.train import PolicyConfig, PolicyTrainer, load_policy_config
from engine.search import Action, Limits, RewardLookahead, Target, cyclic_pentamer, search

ROOT = Path(__file__).resolve().parents[1]


def random_walk(env: GrowthEnv, rng: random.Random) -> list:
    graphs = [env.reset()]
    while not env.done:
        actions = env.valid_actions()
        result = env.step(actions[rng.randrange(len(actions))])
        graphs.append(result.graph)
    return graphs


def brute_force_valid(env: GrowthEnv) -> set[Action]:
    """Valid next actions by trial: the result is a valid graph that can still reach the target."""
    graph = env.graph
    n = graph.n_waters
    valid = set()
    for donor in range(n + 1):
        for acceptor in range(n + 1):
            if donor == acceptor or (n in (donor, acceptor) and n >= env.target_size):
                continue
            if donor == n and acceptor == n:
                continue
            candidate = WaterGraph(n + (1 if n in (donor, acceptor) else 0), graph.hbonds + ((donor, acceptor),))
            free_slots = 4 * candidate.n_waters - 2 * candidate.n_hbonds
            growable = candidate.n_waters == env.target_size or free_slots > 0
            if candidate.is_valid() and growable:
                valid.add(Action(donor, acceptor))
    if n == env.target_size:
        valid.add(STOP)
    return valid


def test_action_mask_matches_brute_force():
    rng = random.Random(5)
    for episode in range(40):
        env = GrowthEnv(cyclic_pentamer(), 5 + episode % 4, DEFAULT_WEIGHTS, max_steps=30)
        env.reset()
        while not env.done:
            listed = env.valid_actions()
            assert len(listed) == len(set(listed))
            assert set(listed) == brute_force_valid(env)
            env.step(listed[rng.randrange(len(listed))])


def test_incremental_state_matches_recomputation():
    rng = random.Random(9)
    env = GrowthEnv(cyclic_pentamer(), 10, DEFAULT_WEIGHTS, max_steps=60)
    for _ in range(20):
        env.reset()
        while not env.done:
            actions = env.valid_actions()
            env.step(actions[rng.randrange(len(actions))])
            graph = env.graph
            assert env.out_degrees.tolist() == graph.out_degrees().tolist()
            assert env.in_degrees.tolist() == graph.in_degrees().tolist()
            assert env.bonded == set(graph.undirected_edges())
            assert env.current_reward == score(graph).total
            assert graph.is_valid()


def test_delta_rewards_sum_to_final_gain():
    env = GrowthEnv(cyclic_pentamer(), 8, DEFAULT_WEIGHTS)
    rng = random.Random(3)
    env.reset()
    total = 0.0
    while not env.done:
        actions = env.valid_actions()
        total += env.step(actions[rng.randrange(len(actions))]).reward
    # A sum of differences telescopes up to float round-off.
    assert total == pytest.approx(env.current_reward - score(cyclic_pentamer()).total, abs=1e-12)


def test_invalid_action_rejected():
    env = GrowthEnv(cyclic_pentamer(), 6, DEFAULT_WEIGHTS)
    with pytest.raises(InputError, match="invalid action 0 -> 1"):
        env.step(Action(0, 1))
    with pytest.raises(InputError, match="invalid action"):
        env.step(STOP)


def test_nan_reward_ends_episode(caplog):
    calls = []

    def flaky(graph):
        calls.append(graph)
        return float("nan") if len(calls) > 2 else 1.0

    env = GrowthEnv(cyclic_pentamer(), 8, DEFAULT_WEIGHTS, reward_function=flaky)
    env.step(env.valid_actions()[0])
    result = env.step(env.valid_actions()[0])
    assert result.done
    assert result.invalid_reward
    assert result.reward == 0.0
    assert "not finite" in caplog.text


@pytest.mark.parametrize(
    "start, target, message",
    [
        (WaterGraph(3, ((0, 1), (0, 2), (1, 2), (2, 0))), 5, "waters 0 and 2 share"),
        (WaterGraph(4, ((0, 1), (0, 2), (0, 3))), 5, "water 0 donates 3"),
        (cyclic_pentamer(), 4, "target size 4 is below"),
    ],
)
def test_env_rejects_bad_start(start, target, message):
    with pytest.raises(InputError, match=message):
        GrowthEnv(start, target, DEFAULT_WEIGHTS)


def test_batched_scores_equal_single():
    rng = random.Random(1)
    network = PolicyNetwork(hidden=16, layers=2)
    network.eval()
    env = GrowthEnv(cyclic_pentamer(), 9, DEFAULT_WEIGHTS)
    states = []
    for graph in random_walk(env, rng)[:-1]:
        env_actions = GrowthEnv(graph, 9, DEFAULT_WEIGHTS).valid_actions()
        states.append((graph, env_actions))
    batched = network.action_scores(encode(states, 9))
    for (graph, actions), scores in zip(states, batched):
        single = network.action_scores(encode([(graph, actions)], 9))[0]
        # Same arithmetic in a different batch layout: float32 round-off only.
        assert np.allclose(single.detach().numpy(), scores.detach().numpy(), atol=1e-5)


def test_scores_invariant_under_relabelling():
    network = PolicyNetwork(hidden=16, layers=2)
    network.eval()
    graph = WaterGraph(6, ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)))
    permutation = [3, 5, 0, 1, 4, 2]
    relabelled = WaterGraph(6, tuple((permutation[d], permutation[a]) for d, a in graph.hbonds))
    actions = GrowthEnv(graph, 8, DEFAULT_WEIGHTS).valid_actions()
    mapped = [Action(permutation[a.donor] if a.donor < 6 else 6, permutation[a.acceptor] if a.acceptor < 6 else 6)
              for a in actions]
    first = network.action_scores(encode([(graph, actions)], 8))[0].detach().numpy()
    second = network.action_scores(encode([(relabelled, mapped)], 8))[0].detach().numpy()
    # Sums over neighbours in another order: float32 round-off only.
    assert np.allclose(first, second, atol=1e-5)


TINY = dict(episodes=60, episodes_per_round=2, batch_size=16, gradient_steps_per_episode=6, warmup_transitions=32,
            epsilon_decay_episodes=40, hidden=32, layers=2, target_update_rounds=3, seed=4)


def mean_random_final_reward(target: int, episodes: int, seed: int) -> float:
    env = GrowthEnv(cyclic_pentamer(), target, DEFAULT_WEIGHTS)
    rng = random.Random(seed)
    finals = []
    for _ in range(episodes):
        random_walk(env, rng)
        finals.append(env.current_reward)
    return float(np.mean(finals))


def greedy_final_reward(policy_dir: Path, target: int) -> float:
    model = PolicyModel(policy_dir, DEFAULT_WEIGHTS)
    env = GrowthEnv(cyclic_pentamer(), target, DEFAULT_WEIGHTS)
    graph = env.reset()
    while not env.done:
        actions = env.valid_actions()
        scores = model.score_actions(graph, actions)
        graph = env.step(actions[int(np.argmax(scores))]).graph
    return env.current_reward


def test_tiny_training_beats_random(tmp_path):
    trainer = PolicyTrainer(tmp_path / "policy", cyclic_pentamer(), 7, DEFAULT_WEIGHTS, PolicyConfig(**TINY))
    summary = trainer.train()
    assert summary["episodes"] == 60
    rows = list(csv.DictReader((tmp_path / "policy" / "metrics.csv").open()))
    assert [int(row["episode"]) for row in rows] == list(range(1, 61))
    learned = greedy_final_reward(tmp_path / "policy", 7)
    random_mean = mean_random_final_reward(7, 200, seed=2)
    assert learned > random_mean


def test_training_resumes_identically(tmp_path):
    config = PolicyConfig(**{**TINY, "episodes": 12})
    straight = PolicyTrainer(tmp_path / "straight", cyclic_pentamer(), 6, DEFAULT_WEIGHTS, config)
    straight.train()

    interrupted = PolicyTrainer(tmp_path / "resumed", cyclic_pentamer(), 6, DEFAULT_WEIGHTS, config)
    interrupted.train(should_stop=lambda: interrupted.episode >= 6)
    assert interrupted.episode == 6
    resumed = PolicyTrainer(tmp_path / "resumed", cyclic_pentamer(), 6, DEFAULT_WEIGHTS, config)
    assert resumed.episode == 6
    resumed.train()

    first = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    second = (tmp_path / "resumed" / "metrics.csv").read_text().splitlines()
    strip = lambda lines: [",".join(line.split(",")[:7]) for line in lines]  # drop timing columns
    assert strip(first) == strip(second)


def test_training_rejects_other_reward(tmp_path):
    PolicyTrainer(tmp_path / "p", cyclic_pentamer(), 6, DEFAULT_WEIGHTS, PolicyConfig(**{**TINY, "episodes": 2})).train()
    other = RewardWeights({"degree": 2.0})
    with pytest.raises(InputError, match="different reward"):
        PolicyTrainer(tmp_path / "p", cyclic_pentamer(), 6, other, PolicyConfig(**{**TINY, "episodes": 2}))


def test_config_rejects_unknown_field(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("episodes: 5\nlearning_rat: 0.1\n")
    with pytest.raises(InputError, match="learning_rat.*known fields"):
        load_policy_config(path)


def test_policy_model_rejects_other_reward_and_layout(tmp_path):
    policy = tmp_path / "p"
    PolicyTrainer(policy, cyclic_pentamer(), 6, DEFAULT_WEIGHTS, PolicyConfig(**{**TINY, "episodes": 2})).train()
    with pytest.raises(InputError, match="trained for another reward.*degree"):
        PolicyModel(policy, RewardWeights({"degree": 3.0}))
    layout = json.loads((policy / "layout.json").read_text())
    layout["feature_layout_version"] = 0
    (policy / "layout.json").write_text(json.dumps(layout))
    with pytest.raises(InputError, match="another feature layout"):
        PolicyModel(policy)


def test_learned_search_is_deterministic(tmp_path):
    policy = tmp_path / "p"
    PolicyTrainer(policy, cyclic_pentamer(), 8, DEFAULT_WEIGHTS, PolicyConfig(**{**TINY, "episodes": 4})).train()
    runs = []
    for _ in range(2):
        result = search(cyclic_pentamer(), Target(8), 2, PolicyModel(policy), DEFAULT_WEIGHTS, Limits(max_results=4))
        runs.append([[step.graph for step in pathway] for pathway in result.pathways])
        for pathway in result.pathways:
            for step in pathway[1:]:
                assert len(step.alternatives) <= 2
                assert step.action in [alternative.action for alternative in step.alternatives]
    assert runs[0] == runs[1]
    assert runs[0]


def test_search_deduplicates_isomorphic_results():
    result = search(cyclic_pentamer(), Target(7), 3, RewardLookahead(),
                    limits=Limits(max_results=50, max_expansions=400))
    finals = [pathway[-1].graph for pathway in result.pathways]
    for i in range(len(finals)):
        for j in range(i + 1, len(finals)):
            assert not same_network(finals[i], finals[j])


def test_cli_trains_policy_and_searches(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text("\n".join(f"{key}: {value}" for key, value in {**TINY, "episodes": 4}.items()) + "\n")
    policy = tmp_path / "policy"
    run = lambda *args: subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT)
    trained = run("train-policy", "--target-size", "7", "--out", str(policy), "--config", str(config))
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "pathways.json"
    searched = run("search", "--policy", str(policy), "--target-size", "7", "--branching", "2", "--out", str(out))
    assert searched.returncode == 0, searched.stderr
    assert json.loads(out.read_text())["parameters"]["model"] == "learned-policy"
    other = tmp_path / "other.json"
    other.write_text('{"degree": 2.0}')
    refused = run("search", "--policy", str(policy), "--weights", str(other), "--target-size", "7", "--out", str(out))
    assert refused.returncode == 2
    assert "trained for another reward" in refused.stderr


needs_geng = pytest.mark.skipif(
    not any(shutil.which(name) for name in ("nauty-geng", "geng")),
    reason="nauty's geng is not installed (apt-get install nauty)",
)


@needs_geng
def test_enumeration_counts_match_known_totals():
    # Graphs on n nodes with maximum degree 4, up to isomorphism (all graphs for n <= 5).
    assert sum(1 for _ in undirected_graphs(4)) == 11
    assert sum(1 for _ in undirected_graphs(5)) == 34
    assert sum(1 for _ in undirected_graphs(6)) == 122


@needs_geng
def test_orientation_is_valid_and_preserves_graph():
    for graph in undirected_graphs(7):
        water = orient(graph)
        assert water.is_valid()
        assert set(water.undirected_edges()) == {(min(u, v), max(u, v)) for u, v in graph.edges()}


@needs_geng
def test_enumerated_optimum_of_default_reward():
    best, count = best_graphs(6, DEFAULT_WEIGHTS, top=3)
    assert count == 122
    # A 4-regular graph exists on 6 waters (the octahedron): mean 4, variance 0.
    assert best[0][0] == 4.0
    assert score(best[0][1]).total == 4.0
    assert describe(best[0][1]).degree_histogram == [0, 0, 0, 0, 6]


@needs_geng
def test_search_never_beats_enumerated_optimum():
    best, _ = best_graphs(7, DEFAULT_WEIGHTS, top=1)
    result = search(cyclic_pentamer(), Target(7), 3, RewardLookahead(), limits=Limits(max_results=10))
    assert result.pathways
    for pathway in result.pathways:
        assert pathway[-1].reward.total <= best[0][0]


def test_missing_geng_is_clear(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="apt-get install nauty"):
        find_geng()


def test_workers_reproduce_single_process(tmp_path):
    runs = {}
    for workers in (1, 2):
        config = PolicyConfig(**{**TINY, "episodes": 8, "workers": workers})
        PolicyTrainer(tmp_path / f"w{workers}", cyclic_pentamer(), 7, DEFAULT_WEIGHTS, config).train()
        lines = (tmp_path / f"w{workers}" / "metrics.csv").read_text().splitlines()
        runs[workers] = [",".join(line.split(",")[:7]) for line in lines]  # drop timing columns
    assert runs[1] == runs[2]

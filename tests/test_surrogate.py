"""The MPNN energy surrogate: model, data pipeline, training, resume, data-parallel runs and the CLI.

Training tests use the tiny config and the first few hundred records of the
real HydroNet file, and skip when that file is missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dgl
import numpy as np
import pytest
import torch
import yaml

from engine.cli import main as engine_main
from engine.graphs import WaterGraph, atomic_graph_from_water
from engine.io import tfrecord
from engine.pathways import load_pathways, result_to_dict, write_pathways
from engine.reward import DEFAULT_WEIGHTS
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search
from engine.surrogate import distributed
from engine.surrogate.config import SurrogateConfig, config_differences, load_config, parse_config
from engine.surrogate.data import (
    ShardedBatchSampler,
    file_sha256,
    load_dataset,
    make_split,
    store_from_graphs,
)
from engine.surrogate.distributed import (
    DistributedSetupError,
    detect_process_group,
    expand_nodelist,
    parse_nodelist,
    setup_communicator,
)
from engine.surrogate.errors import DatasetError, ModelMismatchError, SurrogateConfigError
from engine.surrogate.evaluation import LinearDescriptorBaseline, PerSizeMeanBaseline
from engine.surrogate.model import MAX_TABULATED_WATERS, EnergyModel, build_model, fit_size_offsets, fit_type_means
from engine.surrogate.modeldir import ModelDirectory
from engine.surrogate.plain import predict_plain
from engine.surrogate.predict import load_model, predict_store, predict_water_graphs
from engine.surrogate.schedule import WarmupPlateauSchedule
from engine.surrogate.train import TrainRequest, train
from tests.engine_fixtures import chain_graph, first_records, frame_record, ring_graph, star_graph, water_at, xyz_text

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "configs" / "surrogate-tiny.yaml"
DEFAULT_CONFIG = ROOT / "configs" / "surrogate.yaml"
#: Float32 sums of about 30 atomwise terms of size ~10 kcal/mol carry rounding
#: errors near 1e-5 kcal/mol; 1e-4 leaves a margin and is far below any real difference.
ENERGY_TOLERANCE = 1e-4


# --- helpers -----------------------------------------------------------------------------------


def tiny_config(**sections) -> SurrogateConfig:
    """The tiny config with some keys replaced, e.g. ``training={"epochs": 2}``."""
    data = yaml.safe_load(TINY_CONFIG.read_text())
    for section, values in sections.items():
        data[section].update(values)
    return parse_config(data, "tiny config")


def write_config(path: Path, config: SurrogateConfig) -> Path:
    path.write_text(yaml.safe_dump(config.to_dict()))
    return path


def write_subset(path: Path, count: int) -> Path:
    """Write the first ``count`` records of the real HydroNet file as an uncompressed TFRecord file."""
    path.write_bytes(b"".join(first_records(count)))
    return path


def run_engine(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "DESIGN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def small_store(graphs: list[WaterGraph], energies: list[float] | None = None):
    return store_from_graphs([atomic_graph_from_water(g) for g in graphs], "test graphs", energies)


def settled_model(store, features: int = 8, steps: int = 3, seed: int = 0) -> EnergyModel:
    """A random model whose batch-norm statistics were updated on ``store``, in evaluation mode."""
    torch.manual_seed(seed)
    model = EnergyModel(features, steps, dropout=0.0)
    model.initialise_output(torch.tensor([-1.8, -3.5]), 2.0)
    batch = store.batch(np.arange(len(store)))
    model.train()
    with torch.no_grad():
        for _ in range(20):
            model(batch.graph)
    return model.eval()


def example_graphs() -> list[WaterGraph]:
    return [ring_graph(5), chain_graph(4), star_graph(4), ring_graph(3), chain_graph(7)]


@pytest.fixture(scope="module")
def subset_file(tmp_path_factory) -> Path:
    """The first 320 real clusters (256 train, 32 validation, 32 test with the tiny split)."""
    return write_subset(tmp_path_factory.mktemp("data") / "subset.tfrecord", 320)


# --- config ------------------------------------------------------------------------------------


def test_config_file_matches_defaults():
    assert load_config(DEFAULT_CONFIG) == SurrogateConfig()


def test_config_unknown_key_lists_known():
    with pytest.raises(SurrogateConfigError) as caught:
        parse_config({"training": {"lr": 0.1}})
    message = str(caught.value)
    assert "unknown key 'training.lr'" in message
    assert "learning_rate" in message
    assert "early_stopping_patience" in message


def test_config_split_must_sum_to_one():
    with pytest.raises(SurrogateConfigError, match="must be 1"):
        parse_config({"data": {"split": {"train": 0.5, "validation": 0.1, "test": 0.1}}})


def test_config_train_limit_must_be_positive():
    with pytest.raises(SurrogateConfigError, match="train_limit") as caught:
        parse_config({"data": {"split": {"train_limit": 0}}})
    assert "greater than or equal to 1" in str(caught.value)


def test_config_differences_name_keys():
    changed = tiny_config(model={"features": 16})
    lines = config_differences(tiny_config().to_dict(), changed.to_dict())
    assert lines == ["model.features: 8 in the model directory, 16 requested"]


# --- model -------------------------------------------------------------------------------------


def test_model_output_shape():
    store = small_store(example_graphs())
    model = settled_model(store)
    batch = store.batch(np.arange(len(store)))
    energies = model(batch.graph)
    assert energies.shape == (len(store),)
    assert energies.dtype == torch.float32
    assert torch.isfinite(energies).all()


def test_model_batching_invariance():
    store = small_store(example_graphs())
    model = settled_model(store)
    with torch.no_grad():
        together = model(store.batch(np.arange(len(store))).graph)
        alone = torch.stack([model(store.graph(i)).squeeze(0) for i in range(len(store))])
    assert torch.allclose(together, alone, rtol=0, atol=ENERGY_TOLERANCE)


def test_model_atom_permutation_invariance():
    water = ring_graph(6)
    atomic = atomic_graph_from_water(water)
    rng = np.random.default_rng(3)
    new_index = rng.permutation(atomic.n_atoms)
    elements = np.empty_like(atomic.elements)
    elements[new_index] = atomic.elements
    permuted = type(atomic)(elements, new_index[atomic.bonds], atomic.bond_types)
    store = store_from_graphs([atomic, permuted], "permutation")
    model = settled_model(store)
    with torch.no_grad():
        original, shuffled = model(store.graph(0)), model(store.graph(1))
    assert not np.array_equal(elements, atomic.elements)
    assert torch.allclose(original, shuffled, rtol=0, atol=ENERGY_TOLERANCE)


def test_model_plain_ops_match_dgl():
    store = small_store(example_graphs())
    model = settled_model(store)
    graph = store.batch(np.arange(len(store))).graph
    with torch.no_grad():
        assert torch.allclose(model(graph), predict_plain(model, graph), rtol=0, atol=ENERGY_TOLERANCE)


def test_model_gradients_match_plain_ops():
    store = small_store(example_graphs())
    model = settled_model(store)
    model.train()
    graph = store.batch(np.arange(len(store))).graph
    model(graph).sum().backward()
    dgl_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    predict_plain(model, graph).sum().backward()
    for first, second in zip(dgl_grads, (p.grad for p in model.parameters())):
        # Gradients sum many float32 terms in a different order in the two backends.
        assert torch.allclose(first, second, rtol=1e-4, atol=1e-4)


def test_type_means_recover_energy_per_water():
    counts = torch.tensor([[n, 2 * n] for n in range(3, 12)])
    energies = -10.0 * counts[:, 0].double()
    means, scale = fit_type_means(counts, energies)
    assert float(means[0] + 2 * means[1]) == pytest.approx(-10.0, abs=1e-5)
    assert scale == pytest.approx(1e-3)


def test_size_offsets_interpolate_inside():
    sizes = torch.tensor([3, 3, 5, 9])
    residuals = torch.tensor([1.0, 3.0, 4.0, -2.0])
    table = fit_size_offsets(sizes, residuals)
    assert table.shape == (MAX_TABULATED_WATERS + 1,)
    assert table[3] == 2.0
    assert table[4] == 3.0
    assert table[7] == 1.0
    assert table[0] == 2.0


def test_size_offsets_extend_trend_above():
    sizes = torch.tensor([3, 4, 5, 6])
    residuals = torch.tensor([9.0, 0.0, 1.0, 2.0])
    table = fit_size_offsets(sizes, residuals, trend_sizes=3)
    # The line through sizes 4, 5 and 6 rises by 1 per water.
    assert float(table[10]) == pytest.approx(6.0)
    assert float(table[MAX_TABULATED_WATERS]) == pytest.approx(2.0 + MAX_TABULATED_WATERS - 6)


def test_model_adds_size_offset():
    store = small_store([ring_graph(5), chain_graph(4)])
    model = settled_model(store)
    with_offsets = EnergyModel(8, 3, size_offsets=True)
    with_offsets.load_state_dict(model.state_dict())
    offsets = torch.zeros(MAX_TABULATED_WATERS + 1)
    offsets[5], offsets[4] = 10.0, -1.0
    with_offsets.initialise_output(model.type_mean.weight.squeeze(1), float(model.energy_scale), offsets)
    with_offsets.eval()
    graph = store.batch([0, 1]).graph
    with torch.no_grad():
        difference = with_offsets(graph) - model(graph)
    assert torch.allclose(difference, torch.tensor([10.0, -1.0]), atol=ENERGY_TOLERANCE)


def test_untrained_model_predicts_type_means():
    store = small_store([ring_graph(5)])
    torch.manual_seed(0)
    model = EnergyModel(8, 2)
    model.initialise_output(torch.tensor([-2.0, -4.0]), 1.0)
    model.train()
    with torch.no_grad():
        energy = float(model(store.graph(0)))
    # The last readout layer starts at 0.1 x its default size, so the network part is small.
    assert energy == pytest.approx(5 * (-2.0 - 2 * 4.0), abs=2.0)


# --- data ----------------------------------------------------------------------------------------


def test_store_batch_equals_dgl_batch():
    store = small_store(example_graphs())
    indices = [3, 0, 4]
    mine = store.batch(indices).graph
    reference = dgl.batch([store.graph(i) for i in indices])
    assert torch.equal(torch.stack(mine.edges()), torch.stack(reference.edges()))
    assert torch.equal(mine.batch_num_nodes(), reference.batch_num_nodes())
    assert torch.equal(mine.batch_num_edges(), reference.batch_num_edges())
    assert torch.equal(mine.ndata["type"], reference.ndata["type"])
    assert torch.equal(mine.edata["type"], reference.edata["type"])


def test_store_rejects_graph_without_bonds():
    empty = type(atomic_graph_from_water(ring_graph(3)))(np.array([0, 1, 1]), np.zeros((0, 2), dtype=np.int64),
                                                        np.zeros(0, dtype=np.int64))
    with pytest.raises(DatasetError, match="frame 0: the graph has no bonds"):
        store_from_graphs([empty], "lone atoms")


def test_sampler_shards_cover_epoch():
    indices = np.arange(100, 150)
    samplers = [ShardedBatchSampler(indices, 4, True, seed=7, rank=r, world_size=2) for r in range(2)]
    for sampler in samplers:
        sampler.set_epoch(3)
    shards = [sampler.shard() for sampler in samplers]
    assert len(shards[0]) == len(shards[1]) == 25
    assert sorted(np.concatenate(shards).tolist()) == indices.tolist()
    single = ShardedBatchSampler(indices, 8, True, seed=7)
    single.set_epoch(3)
    first_global_batch = sorted(next(iter(single)))
    assert first_global_batch == sorted(next(iter(samplers[0])) + next(iter(samplers[1])))
    assert len(samplers[0]) == len(list(samplers[0])) == 7


def test_sampler_shuffles_per_epoch_by_seed():
    sampler = ShardedBatchSampler(np.arange(40), 40, True, seed=1)
    orders = []
    for epoch in (0, 1, 0):
        sampler.set_epoch(epoch)
        orders.append(sampler.shard().tolist())
    assert orders[0] == orders[2]
    assert orders[0] != orders[1]


def test_sampler_pads_uneven_shards():
    samplers = [ShardedBatchSampler(np.arange(5), 2, False, rank=r, world_size=2) for r in range(2)]
    assert [len(s.shard()) for s in samplers] == [3, 3]
    unpadded = [ShardedBatchSampler(np.arange(5), 2, False, rank=r, world_size=2, pad=False) for r in range(2)]
    assert sorted(np.concatenate([s.shard() for s in unpadded]).tolist()) == list(range(5))


def test_split_deterministic_and_disjoint():
    graphs = [ring_graph(3 + i % 5) for i in range(50)]
    store = small_store(graphs, [-float(i) for i in range(50)])
    config = tiny_config().data.split
    first, second = make_split(store, config), make_split(store, config)
    for part in ("train", "validation", "test"):
        assert np.array_equal(first[part], second[part])
    assert [len(first[p]) for p in ("train", "validation", "test")] == [40, 5, 5]
    assert len(np.unique(np.concatenate(list(first.values())))) == 50


def test_split_train_limit_keeps_validation_and_test():
    graphs = [ring_graph(3 + i % 5) for i in range(50)]
    store = small_store(graphs, [-float(i) for i in range(50)])
    full = make_split(store, tiny_config().data.split)
    limited = make_split(store, tiny_config().data.split.model_copy(update={"train_limit": 12}))
    assert len(limited["train"]) == 12
    assert set(limited["train"]) <= set(full["train"])
    assert np.array_equal(limited["validation"], full["validation"])
    assert np.array_equal(limited["test"], full["test"])


def test_split_without_energies_rejected():
    store = small_store([ring_graph(4)] * 5)
    with pytest.raises(DatasetError, match="no usable graphs"):
        make_split(store, tiny_config().data.split)


def test_cache_converts_once_and_on_change(tmp_path):
    source = write_subset(tmp_path / "few.tfrecord", 30)
    cache = tmp_path / "cache"
    first = load_dataset(source, cache)
    second = load_dataset(source, cache)
    assert first.converted
    assert not second.converted
    assert first.manifest["source_sha256"] == file_sha256(source)
    assert np.array_equal(first.store.energies, second.store.energies)
    assert np.array_equal(first.store.src, second.store.src)
    assert np.array_equal(first.store.components, second.store.components)

    write_subset(source, 20)
    third = load_dataset(source, cache)
    assert third.converted
    assert len(third.store) == 20


def test_cache_skips_graphs_without_bonds(tmp_path):
    lone = tfrecord.Example()
    lone.features.feature["atom"].int64_list.value.extend([0, 1, 1])
    lone.features.feature["connectivity"].int64_list.value.extend([])
    lone.features.feature["energy"].float_list.value.append(-1.0)
    path = tmp_path / "mixed.tfrecord"
    path.write_bytes(frame_record(lone.SerializeToString()) + b"".join(first_records(3)))
    result = load_dataset(path, tmp_path / "cache")
    assert len(result.store) == 3
    assert result.manifest["skipped_without_bonds"] == [0]


# --- schedule and baselines ----------------------------------------------------------------------


def test_schedule_warmup_then_plateau():
    schedule = WarmupPlateauSchedule(peak=1.0, warmup_steps=10, start_factor=0.1, factor=0.5, patience=1, minimum=0.2)
    assert schedule.learning_rate(0) == pytest.approx(0.1)
    assert schedule.learning_rate(5) == pytest.approx(0.55)
    assert schedule.learning_rate(10) == 1.0
    assert not schedule.end_epoch(1.0, step=5)
    assert not schedule.end_epoch(1.0, step=10)
    assert not schedule.end_epoch(1.0, step=20)
    assert schedule.end_epoch(1.0, step=30)
    assert schedule.learning_rate(30) == 0.5
    for step in (40, 50, 60, 70):
        schedule.end_epoch(1.0, step)
    assert schedule.learning_rate(80) == 0.2


def test_baselines_recover_exact_relations():
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 7, size=200)
    components = rng.normal(size=(200, 4))
    energies = 2.0 * components[:, 1] - 1.5 * components[:, 3] - 10.0 * sizes
    linear = LinearDescriptorBaseline.fit(components, sizes, energies, sizes)
    assert np.allclose(linear.predict(components, sizes), energies, atol=1e-8)
    size_mean = PerSizeMeanBaseline.fit(sizes[:150], energies[:150], np.append(sizes, 9))
    assert size_mean.predict(np.array([3]))[0] == pytest.approx(energies[:150][sizes[:150] == 3].mean())
    # A size outside the training data gets the straight-line fit over sizes.
    assert size_mean.predict(np.array([9]))[0] == pytest.approx(-90.0, abs=1.0)


# --- distributed environment -------------------------------------------------------------------


def test_process_group_from_torchrun_env():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29611"}
    spec = detect_process_group(env)
    assert (spec.rank, spec.world_size, spec.local_rank) == (3, 4, 1)
    assert (spec.master_addr, spec.master_port, spec.launcher) == ("10.0.0.5", 29611, "torchrun")


def test_process_group_from_slurm_env():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[07-08]",
           "SLURM_JOB_ID": "123456"}
    requested = []

    def fake_expand(nodelist):
        requested.append(nodelist)
        return ["gpu07", "gpu08"]

    spec = detect_process_group(env, expand=fake_expand)
    assert requested == ["gpu[07-08]"]
    assert (spec.rank, spec.world_size, spec.local_rank) == (5, 8, 1)
    assert spec.master_addr == "gpu07"
    assert spec.master_port == distributed.DEFAULT_PORT + 123456 % 10000
    assert spec.launcher == "slurm"


def test_process_group_slurm_master_override():
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "MASTER_ADDR": "head", "MASTER_PORT": "4000"}
    spec = detect_process_group(env, expand=lambda _: pytest.fail("the node list must not be expanded"))
    assert (spec.master_addr, spec.master_port) == ("head", 4000)


def test_process_group_env_errors():
    assert detect_process_group({}) is None
    with pytest.raises(DistributedSetupError, match="SLURM_JOB_NODELIST"):
        detect_process_group({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})
    with pytest.raises(DistributedSetupError, match="RANK='one'"):
        detect_process_group({"RANK": "one", "WORLD_SIZE": "2"})


def test_nodelist_expansion():
    assert parse_nodelist("node[01-03,07],gpu2") == ["node01", "node02", "node03", "node07", "gpu2"]
    assert parse_nodelist("c[9-11]") == ["c9", "c10", "c11"]

    def scontrol(command, **_):
        assert command == ["scontrol", "show", "hostnames", "n[1-2]"]
        return subprocess.CompletedProcess(command, 0, stdout="n1\nn2\n", stderr="")

    def missing(command, **_):
        raise FileNotFoundError("scontrol")

    assert expand_nodelist("n[1-2]", run=scontrol) == ["n1", "n2"]
    assert expand_nodelist("n[1-2]", run=missing) == ["n1", "n2"]


def test_horovod_backend_reports_missing():
    with pytest.raises(DistributedSetupError, match="horovod is not installed"):
        setup_communicator(False, "horovod", env={})


def test_distributed_without_launcher_rejected():
    with pytest.raises(DistributedSetupError, match="torchrun or srun"):
        setup_communicator(True, None, env={})
    assert setup_communicator(False, None, env={"WORLD_SIZE": "1"}).world_size == 1


# --- training, saving, resuming ---------------------------------------------------------------


def train_tiny(data: Path, out: Path, config: SurrogateConfig | None = None, **options):
    return train(TrainRequest(data=data, out=out, config=config or tiny_config(), progress=False, **options), env={})


def test_train_writes_model_directory(subset_file, tmp_path):
    result = train_tiny(subset_file, tmp_path / "model", tiny_config(training={"epochs": 2}))
    directory = ModelDirectory(tmp_path / "model")
    for name in ("model.json", "config.yaml", "split.json", "checkpoint.pt", "model.pt", "metrics.csv", "test_report.json"):
        assert (directory.path / name).is_file(), name
    assert [row["epoch"] for row in directory.read_metrics()] == ["1", "2"]
    report = json.loads(directory.report_path.read_text())
    assert report["n_test"] == 32
    assert set(report["overall"]) == {"model", "per_size_mean", "linear_descriptors"}
    assert len(report["parity"]) == 32
    assert {"n_waters", "model", "per_size_mean", "linear_descriptors"} <= set(report["per_size"][0])
    split = json.loads(directory.split_path.read_text())
    assert [len(split["frames"][p]) for p in ("train", "validation", "test")] == [256, 32, 32]
    assert result.state.finished


def test_saved_model_round_trip(subset_file, tmp_path):
    result = train_tiny(subset_file, tmp_path / "model", tiny_config(training={"epochs": 2}))
    loaded = load_model(tmp_path / "model")
    reference = build_model(tiny_config().model)
    reference.load_state_dict(result.state.best_weights)
    reference.eval()
    store = load_dataset(subset_file, tmp_path / "model" / "cache").store
    with torch.no_grad():
        expected = reference(store.batch(np.arange(len(store))).graph).double().numpy()
    # The same weights on the same batch give bit-identical results.
    assert np.array_equal(predict_store(loaded, store), expected)


def test_resume_equals_uninterrupted_run(subset_file, tmp_path):
    config = tiny_config(training={"epochs": 3})
    whole = train_tiny(subset_file, tmp_path / "whole", config)
    first = train_tiny(subset_file, tmp_path / "parts", config, max_epochs=1)
    assert first.state.epoch == 1
    assert not first.state.finished
    resumed = train_tiny(subset_file, tmp_path / "parts", config)

    rows = ModelDirectory(tmp_path / "parts").read_metrics()
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    for a, b in zip(whole.state.history, resumed.state.history):
        # Same seed, same batches, one thread pool: the runs repeat each operation exactly.
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["validation_loss"] == pytest.approx(b["validation_loss"], rel=1e-6)
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(tensor.float(), resumed.model.state_dict()[name].float(), rtol=1e-5, atol=1e-6), name


def test_resume_with_other_config_rejected(subset_file, tmp_path):
    train_tiny(subset_file, tmp_path / "model", tiny_config(training={"epochs": 1}))
    other = tiny_config(training={"epochs": 1}, model={"steps": 3})
    with pytest.raises(ModelMismatchError, match=r"model\.steps: 2 in the model directory, 3 requested"):
        train_tiny(subset_file, tmp_path / "model", other)


def test_resume_with_other_data_rejected(subset_file, tmp_path):
    train_tiny(subset_file, tmp_path / "model", tiny_config(training={"epochs": 1}))
    other = write_subset(tmp_path / "other.tfrecord", 100)
    with pytest.raises(ModelMismatchError, match=r"data file: sha256 \w+ \(.*subset.tfrecord\) in the model directory"):
        train_tiny(other, tmp_path / "model", tiny_config(training={"epochs": 1}))


def test_directory_check_allows_only_cache(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "data.graphs.bin").write_bytes(b"")
    ModelDirectory(tmp_path).check_compatible(tiny_config(), "0" * 64)
    (tmp_path / "notes.txt").write_text("unrelated")
    with pytest.raises(ModelMismatchError, match="is not empty and is not a model directory"):
        ModelDirectory(tmp_path).check_compatible(tiny_config(), "0" * 64)


def test_load_other_format_version_rejected(subset_file, tmp_path):
    train_tiny(subset_file, tmp_path / "model", tiny_config(training={"epochs": 1}))
    metadata_path = tmp_path / "model" / "model.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["format_version"] = 0
    metadata_path.write_text(json.dumps(metadata))
    with pytest.raises(ModelMismatchError, match="format version 0"):
        load_model(tmp_path / "model")


def test_predict_water_graphs(subset_file, tmp_path):
    train_tiny(subset_file, tmp_path / "model", tiny_config(training={"epochs": 1}))
    graphs = [ring_graph(5), chain_graph(8), WaterGraph(1)]
    energies = predict_water_graphs(tmp_path / "model", graphs)
    assert energies.shape == (3,)
    assert np.isfinite(energies).all()
    # Larger clusters are lower in energy; the per-type means alone give about -8.8 kcal/mol per water.
    assert energies[1] < energies[0] < energies[2]


# --- data-parallel training ---------------------------------------------------------------------


def _distributed_worker(rank: int, world_size: int, port: int, data: str, out: str, config_dict: dict, dump: str) -> None:
    """One rank of a gloo run started by torch.multiprocessing.spawn."""
    torch.set_num_threads(1)
    env = {"RANK": str(rank), "WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    request = TrainRequest(data=Path(data), out=Path(out), config=parse_config(config_dict), progress=False)
    result = train(request, env=env)
    torch.save({"parameters": dict(result.model.named_parameters()), "history": result.state.history},
               Path(dump) / f"rank{rank}.pt")


def test_two_rank_gloo_matches_single_process(subset_file, tmp_path):
    per_rank = tiny_config(data={"batch_size": 16}, training={"epochs": 3, "learning_rate": 2e-3})
    port = free_port()
    context = torch.multiprocessing.spawn(
        _distributed_worker,
        args=(2, port, str(subset_file), str(tmp_path / "ddp"), per_rank.to_dict(), str(tmp_path)),
        nprocs=2,
        join=False,
    )
    deadline = time.monotonic() + 240
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the 2-rank run did not finish within 240 s")
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, tensor in ranks[0]["parameters"].items():
        assert torch.equal(tensor, ranks[1]["parameters"][name]), name
    assert [row["epoch"] for row in ModelDirectory(tmp_path / "ddp").read_metrics()] == ["1", "2", "3"]

    # The same global batch (2 x 16) and the same scaled learning rate (2 x 2e-3) in one process.
    single_config = tiny_config(data={"batch_size": 32}, training={"epochs": 3, "learning_rate": 4e-3})
    single = train_tiny(subset_file, tmp_path / "single", single_config)
    for ddp_row, single_row in zip(ranks[0]["history"], single.state.history):
        # Each rank normalises its batch with the statistics of its own 16 graphs, while the single
        # process uses all 32, so the losses agree only approximately: they differed by up to 1 % here.
        assert ddp_row["train_loss"] == pytest.approx(single_row["train_loss"], rel=0.05)
        assert ddp_row["validation_loss"] == pytest.approx(single_row["validation_loss"], rel=0.05)


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_model(subset_file, tmp_path_factory) -> Path:
    """A model trained by ``python -m engine train`` for 2 tiny epochs."""
    folder = tmp_path_factory.mktemp("cli")
    config = write_config(folder / "tiny.yaml", tiny_config(training={"epochs": 2}))
    process = run_engine("train", "--data", subset_file, "--out", folder / "model", "--config", config)
    assert process.returncode == 0, process.stderr
    summary = json.loads(process.stdout)
    assert summary["epochs_completed"] == 2
    assert "epoch 2/2: train loss" in process.stderr
    return folder / "model"


def test_cli_predict_prints_json_lines(cli_model, subset_file, tmp_path):
    xyz = tmp_path / "water.xyz"
    symbols, positions = water_at((0.0, 0.0, 0.0))
    xyz.write_text(xyz_text(symbols, positions, ""))
    process = run_engine("predict", "--model", cli_model, subset_file, xyz)
    assert process.returncode == 0, process.stderr
    records = [json.loads(line) for line in process.stdout.splitlines()]
    assert len(records) == 321
    assert set(records[0]) == {"source", "frame", "n_waters", "predicted_energy", "energy"}
    assert records[0]["source"] == str(subset_file)
    assert [r["frame"] for r in records[:320]] == list(range(320))
    assert all(isinstance(r["predicted_energy"], float) for r in records)
    assert records[-1]["energy"] is None
    assert records[-1]["n_waters"] == 1


def test_cli_predict_pathways_file(cli_model, tmp_path, capsys):
    weights = DEFAULT_WEIGHTS
    result = search(cyclic_pentamer(), Target(6), 2, RewardLookahead(weights), weights, Limits(max_results=2))
    path = tmp_path / "pathways.json"
    write_pathways(result_to_dict(result, "pentamer", Target(6), 2, "reward-lookahead", weights, Limits(max_results=2)), path)
    assert engine_main(["predict", "--model", str(cli_model), str(path)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    steps = sum(len(pathway.steps) for pathway in load_pathways(path).pathways)
    assert len(records) == steps
    assert records[0]["step"] == 0
    assert records[0]["n_waters"] == 5
    assert records[0]["energy"] is None
    assert all(np.isfinite(r["predicted_energy"]) for r in records)


def test_cli_convert_reports_cache_use(subset_file, tmp_path, capsys):
    assert engine_main(["convert", str(subset_file), "--cache-dir", str(tmp_path)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert engine_main(["convert", str(subset_file), "--cache-dir", str(tmp_path)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["converted"] is True
    assert second["converted"] is False
    assert first["n_graphs"] == second["n_graphs"] == 320


def test_cli_zero_usable_graphs(tmp_path, capsys):
    xyz = tmp_path / "no_energy.xyz"
    symbols, positions = water_at((0.0, 0.0, 0.0))
    xyz.write_text(xyz_text(symbols, positions, "") * 3)
    code = engine_main(["train", "--data", str(xyz), "--out", str(tmp_path / "model"), "--config", str(TINY_CONFIG)])
    assert code == 2
    assert "no usable graphs: none of the 3 graphs has an energy" in capsys.readouterr().err

    lone = tfrecord.Example()
    lone.features.feature["atom"].int64_list.value.extend([0, 1, 1])
    lone.features.feature["connectivity"].int64_list.value.extend([])
    empty = tmp_path / "no_bonds.tfrecord"
    empty.write_bytes(frame_record(lone.SerializeToString()))
    assert engine_main(["convert", str(empty), "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "no usable graphs: 1 clusters read, 1 without bonds" in capsys.readouterr().err


def test_cli_other_config_rejected(cli_model, subset_file, tmp_path, capsys):
    other = write_config(tmp_path / "other.yaml", tiny_config(training={"epochs": 2}, model={"features": 12}))
    code = engine_main(["train", "--data", str(subset_file), "--out", str(cli_model), "--config", str(other)])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert "model.features: 8 in the model directory, 12 requested" in error


def test_cli_unknown_config_key(subset_file, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  width: 3\n")
    assert engine_main(["train", "--data", str(subset_file), "--out", str(tmp_path / "m"), "--config", str(bad)]) == 2
    assert "unknown key 'model.width'; known keys in model: features, steps, dropout" in capsys.readouterr().err


def test_cli_nan_loss_keeps_last_checkpoint(subset_file, tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path / "tiny.yaml", tiny_config(training={"epochs": 3}))
    out = tmp_path / "model"
    arguments = ["train", "--data", str(subset_file), "--out", str(out), "--config", str(config)]
    assert engine_main(arguments + ["--max-epochs", "1"]) == 0
    before = torch.load(out / "checkpoint.pt")

    from engine.surrogate import train as train_module

    real_loss = train_module.batch_loss
    monkeypatch.setattr(train_module, "batch_loss", lambda *args: real_loss(*args) * float("nan"))
    capsys.readouterr()
    assert engine_main(arguments) == 1
    error = capsys.readouterr().err
    assert "error: training diverged in epoch 2, batch 1" in error
    assert "the checkpoint of epoch 1 is kept" in error

    after = torch.load(out / "checkpoint.pt")
    assert after["state"]["epoch"] == 1
    for name, tensor in before["model"].items():
        assert torch.equal(tensor, after["model"][name])
    assert [row["epoch"] for row in ModelDirectory(out).read_metrics()] == ["1"]
    assert load_model(out).epoch == 1


KILL_DURING_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from engine.surrogate import modeldir

    directory = modeldir.ModelDirectory(sys.argv[1])
    directory.save_checkpoint({"epoch": 1, "weights": torch.ones(4)})

    def killed_before_rename(source, target):
        os.kill(os.getpid(), signal.SIGKILL)

    modeldir.os.replace = killed_before_rename
    directory.save_checkpoint({"epoch": 2, "weights": torch.zeros(4)})
    """
)


def test_kill_during_checkpoint_write_keeps_previous(tmp_path):
    process = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(tmp_path)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr
    leftovers = list(tmp_path.glob("checkpoint.pt.tmp-*"))
    assert len(leftovers) == 1
    assert leftovers[0].stat().st_size > 0

    directory = ModelDirectory(tmp_path)
    checkpoint = directory.load_checkpoint()
    assert checkpoint["epoch"] == 1
    assert torch.equal(checkpoint["weights"], torch.ones(4))
    directory.remove_stale_temporaries()
    assert not list(tmp_path.glob("*.tmp-*"))


def test_cli_resume_after_kill(tmp_path):
    data = write_subset(tmp_path / "data.tfrecord", 800)
    config = write_config(tmp_path / "tiny.yaml", tiny_config(training={"epochs": 6}))
    out = tmp_path / "model"
    arguments = ["train", "--data", data, "--out", out, "--config", config]
    env = {key: value for key, value in os.environ.items() if key != "DESIGN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen([sys.executable, "-m", "engine", *map(str, arguments)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 150
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    still_running = process.poll() is None
    process.kill()
    process.wait()
    assert still_running, "training ended before it could be killed; the test needs slower epochs"
    # The kill may land between the checkpoint and its metrics row; the rerun restores the row.
    completed_before_kill = ModelDirectory(out).load_checkpoint()["state"]["epoch"]
    assert 1 <= completed_before_kill < 6
    assert len(ModelDirectory(out).read_metrics()) in (completed_before_kill - 1, completed_before_kill)

    rerun = run_engine(*arguments)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming after epoch {completed_before_kill}" in rerun.stderr
    rows = ModelDirectory(out).read_metrics()
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4", "5", "6"]

    whole = train_tiny(data, tmp_path / "whole", tiny_config(training={"epochs": 6}))
    for row, reference in zip(rows, whole.state.history):
        # The killed and resumed run repeats the same operations as the uninterrupted one.
        assert float(row["validation_loss"]) == pytest.approx(reference["validation_loss"], rel=1e-5)

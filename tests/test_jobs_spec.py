"""Job specs, parameters, run folders, ids, parsers and the CLI's input checks (no jobs run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs.backends.slurm import parse_exit_code, parse_sbatch_output, parse_scontrol_records, summarize_states
from jobs.errors import JobNotFoundError, JobSpecError, SchedulerError
from jobs.kinds import CommandContext, copy_resumed_model
from jobs.manager import JobManager
from jobs.profiles import check_directive_path, load_profile
from jobs.progress import parse_progress_line
from jobs.slots import SlotPool
from jobs.spec import parse_spec, read_spec_file
from jobs.processes import group_members, process_alive, start_ticks
from jobs.status import JobState, JobStatus, utc_now
from jobs.store import RunStore, new_job_id, validate_job_id
from jobs_helpers import PROJECT_ROOT, SHORT_SEARCH


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def search_spec(**params) -> dict:
    return {"kind": "search", "params": {**SHORT_SEARCH, **params}}


def context_for(store: RunStore, job_id: str = "20261204-203000-search-ab12cd", **options) -> CommandContext:
    return CommandContext(python="/py", run_dir=store.root / job_id, runs_root=store.root, **options)


def make_finished_run(store: RunStore, kind: str, subfolder: str, state: JobState = JobState.CANCELLED) -> str:
    job_id = new_job_id(kind)
    folder = store.create(job_id, {}, JobStatus(job_id=job_id, kind=kind))
    (folder.artifacts_dir / subfolder / "cache").mkdir(parents=True)
    (folder.artifacts_dir / subfolder / "checkpoint.pt").write_text("weights")
    (folder.artifacts_dir / subfolder / "cache" / "graphs.bin").write_text("cached")
    folder.record_final(state)
    return job_id


# --- parameters ------------------------------------------------------------


def test_search_argv_uses_run_folder(store):
    spec = parse_spec(search_spec(min_reward=-2.5, no_settle=True, weights="default"))
    commands = spec.kind.build_commands(spec.params, context_for(store))
    assert commands == [[
        "/py", "-m", "engine", "search", "--start", "pentamer", "--frame", "0", "--target-size", "7",
        "--branching", "2", "--weights", str(PROJECT_ROOT / "presets" / "default.json"), "--min-reward=-2.5",
        "--no-settle", "--max-results", "10", "--max-expansions", "2000", "--max-seconds", "120.0",
        "--out", str(store.root / "20261204-203000-search-ab12cd" / "artifacts" / "pathways.json"),
    ]]


def test_search_array_has_one_command_per_start(store, tmp_path):
    start_file = tmp_path / "w6.xyz"
    start_file.write_text("x")
    spec = parse_spec({"kind": "search", "params": {
        "target_size": 8, "branching": 2, "starts": [{"start": "pentamer"}, {"start": str(start_file), "frame": 3}]}})
    commands = spec.kind.build_commands(spec.params, context_for(store))
    assert spec.is_array
    assert len(commands) == 2
    assert commands[1][commands[1].index("--start") + 1] == str(start_file)
    assert commands[1][commands[1].index("--frame") + 1] == "3"
    assert commands[1][-1].endswith("artifacts/pathways-1.json")


def test_other_kinds_argv(store, tmp_path):
    data = tmp_path / "data.xyz"
    data.write_text("x")
    context = context_for(store)
    artifacts = context.artifacts_dir
    fit = parse_spec({"kind": "fit-reward", "params": {"data": str(data), "name": "mine", "top_k": 5}})
    assert fit.kind.build_commands(fit.params, context) == [[
        "/py", "-m", "engine", "fit-reward", str(data), "--out", str(artifacts / "mine.json"),
        "--train-fraction", "0.8", "--seed", "0", "--top-k", "5"]]
    convert = parse_spec({"kind": "convert-data", "params": {"data": str(data)}})
    assert convert.kind.build_commands(convert.params, context) == [[
        "/py", "-m", "engine", "convert", str(data), "--cache-dir", str(artifacts / "cache")]]
    policy = parse_spec({"kind": "train-policy", "params": {"reward": "default", "target_size": 10}})
    assert policy.kind.build_commands(policy.params, context) == [[
        "/py", "-m", "engine", "train-policy", "--reward", "default", "--start", "pentamer", "--frame", "0",
        "--target-size", "10", "--out", str(artifacts / "policy")]]
    train = parse_spec({"kind": "train-surrogate", "params": {"data": str(data), "max_epochs": 2}})
    assert train.kind.build_commands(train.params, context) == [[
        "/py", "-m", "engine", "train", "--data", str(data), "--out", str(artifacts / "model"),
        "--max-epochs", "2"]]


def test_multi_rank_training_adds_distributed_and_horovod(store, tmp_path):
    data = tmp_path / "data.xyz"
    data.write_text("x")
    spec = parse_spec({"kind": "train-surrogate", "params": {"data": str(data)},
                       "resources": {"nodes": 2, "tasks_per_node": 2}})
    plain = spec.kind.build_commands(spec.params, context_for(store, n_ranks=4))[0]
    horovod = spec.kind.build_commands(spec.params, context_for(store, n_ranks=4, horovod=True))[0]
    assert plain[-1] == "--distributed"
    assert horovod[-3:] == ["--distributed", "--backend", "horovod"]


def test_unknown_field_lists_known_fields():
    with pytest.raises(JobSpecError) as error:
        parse_spec(search_spec(out="/etc/passwd"))
    message = str(error.value)
    assert "params.out: unknown field" in message
    assert "known fields of params: start, frame, starts, target_size, branching" in message
    assert "\n" not in message


def test_unknown_resource_and_top_level_fields():
    with pytest.raises(JobSpecError, match="resources.gpus: unknown field.*known fields of resources: job_name"):
        parse_spec({**search_spec(), "resources": {"gpus": 1}})
    with pytest.raises(JobSpecError, match="unknown spec field.*'priority'.*known fields: kind, params, resources"):
        parse_spec({**search_spec(), "priority": 1})


def test_unknown_kind_lists_kinds():
    with pytest.raises(JobSpecError, match="unknown job kind 'serch'; known kinds: convert-data, fit-reward, search"):
        parse_spec({"kind": "serch", "params": {}})


def test_missing_required_field():
    with pytest.raises(JobSpecError, match="params.target_size: missing required field"):
        parse_spec({"kind": "search", "params": {"start": "pentamer"}})


@pytest.mark.parametrize("params", [
    {"target_size": "7"}, {"target_size": 7.0}, {"branching": True}, {"no_settle": 1}, {"max_seconds": "10"},
    {"start": 5}, {"starts": "pentamer"},
])
def test_wrong_types_rejected(params):
    with pytest.raises(JobSpecError, match="Input should be a valid"):
        parse_spec(search_spec(**params))


@pytest.mark.parametrize("params, field", [
    ({"target_size": 1}, "target_size"), ({"branching": 0}, "branching"), ({"max_seconds": 0}, "max_seconds"),
    ({"max_results": 0}, "max_results"), ({"frame": -1}, "frame"), ({"min_reward": float("inf")}, "min_reward"),
    ({"starts": []}, "starts"),
])
def test_parameter_ranges(params, field):
    with pytest.raises(JobSpecError, match=f"params.{field}"):
        parse_spec(search_spec(**params))


@pytest.mark.parametrize("resources, field", [
    ({"nodes": 0}, "nodes"), ({"tasks_per_node": 300}, "tasks_per_node"), ({"mem_gb": -1}, "mem_gb"),
    ({"time_min": 0}, "time_min"), ({"cpus_per_task": 0}, "cpus_per_task"), ({"gpus_per_node": -1}, "gpus_per_node"),
])
def test_resource_ranges(resources, field):
    with pytest.raises(JobSpecError, match=f"resources.{field}"):
        parse_spec({**search_spec(), "resources": resources})


def test_several_errors_in_one_message():
    with pytest.raises(JobSpecError) as error:
        parse_spec({**search_spec(target_size="x", branching=-1), "resources": {"mem_gb": 0}})
    message = str(error.value)
    assert "params.target_size" in message
    assert "params.branching" in message
    assert "resources.mem_gb" in message


INJECTIONS = ["x; rm -rf /", "$(touch /tmp/pwned)", "`touch /tmp/pwned`", "a\nb", "it's", 'say "hi"', "-x", ""]


@pytest.mark.parametrize("field", ["job_name", "partition", "account", "qos"])
@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_resource_names_rejected(field, value):
    with pytest.raises(JobSpecError, match=f"resources.{field}"):
        parse_spec({**search_spec(), "resources": {field: value}})


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_params_rejected(value, tmp_path):
    data = tmp_path / "data.xyz"
    data.write_text("x")
    with pytest.raises(JobSpecError):
        parse_spec(search_spec(start=value))
    with pytest.raises(JobSpecError):
        parse_spec(search_spec(weights=value))
    with pytest.raises(JobSpecError):
        parse_spec({"kind": "fit-reward", "params": {"data": str(data), "name": value}})
    with pytest.raises(JobSpecError):
        parse_spec({"kind": "train-policy", "params": {"reward": value, "target_size": 8}})


@pytest.mark.parametrize("bad", ["\n", "\0", "\r", "\x1b"])
def test_input_paths_with_control_characters_rejected(tmp_path, bad):
    with pytest.raises(JobSpecError, match="control characters"):
        parse_spec(search_spec(start=str(tmp_path / f"a{bad}b.xyz")))


def test_input_file_must_be_an_existing_regular_file(tmp_path):
    with pytest.raises(JobSpecError, match="not found"):
        parse_spec(search_spec(start=str(tmp_path / "missing.xyz")))
    with pytest.raises(JobSpecError, match="not a regular file"):
        parse_spec(search_spec(start=str(tmp_path)))


def test_relative_input_path_becomes_absolute(tmp_path, monkeypatch):
    (tmp_path / "w6.xyz").write_text("x")
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(search_spec(start="w6.xyz"))
    assert spec.params.start == str(tmp_path / "w6.xyz")


def test_odd_but_valid_file_names_accepted(tmp_path):
    path = tmp_path / "$(touch x) `y` 'z'.xyz"
    path.write_text("x")
    assert parse_spec(search_spec(start=str(path))).params.start == str(path)


def test_starts_and_start_are_exclusive():
    with pytest.raises(JobSpecError, match="either start and frame, or starts"):
        parse_spec(search_spec(starts=[{"start": "pentamer"}], start="pentamer"))


def test_ranks_only_for_multi_rank_kinds(tmp_path):
    with pytest.raises(JobSpecError, match="runs as one process"):
        parse_spec({**search_spec(), "resources": {"tasks_per_node": 2}})
    with pytest.raises(JobSpecError, match="array_parallel applies to array jobs only"):
        parse_spec({**search_spec(), "resources": {"array_parallel": 2}})


# --- resume_from and cache_from ---------------------------------------------


def test_resume_from_earlier_training_run(store, tmp_path):
    data = tmp_path / "data.xyz"
    data.write_text("x")
    earlier = make_finished_run(store, "train-surrogate", "model")
    spec = parse_spec({"kind": "train-surrogate", "params": {"data": str(data), "resume_from": earlier}}, store)
    argv = spec.kind.build_commands(spec.params, context_for(store))[0]
    assert argv[argv.index("--out") + 1] == str(store.root / "20261204-203000-search-ab12cd" / "artifacts" / "model")
    assert argv[argv.index("--cache-dir") + 1] == str(store.root / earlier / "artifacts" / "model" / "cache")

    new_artifacts = tmp_path / "new-artifacts"
    new_artifacts.mkdir()
    copy_resumed_model(spec.params, new_artifacts, store.root)
    assert (new_artifacts / "model" / "checkpoint.pt").read_text() == "weights"
    assert not (new_artifacts / "model" / "cache").exists()


@pytest.mark.parametrize("value", ["../etc", "/etc/passwd", "20261204-203000-train-surrogate-ab12cd/../../x",
                                   "20261204-203000-train-surrogate-zzzzzz", ""])
def test_resume_from_rejects_paths_and_bad_ids(store, tmp_path, value):
    data = tmp_path / "data.xyz"
    data.write_text("x")
    with pytest.raises(JobSpecError, match="params.resume_from"):
        parse_spec({"kind": "train-surrogate", "params": {"data": str(data), "resume_from": value}}, store)


def test_resume_from_rejects_unknown_running_and_escaping_runs(store, tmp_path):
    data = tmp_path / "data.xyz"
    data.write_text("x")

    def parse(job_id):
        return parse_spec({"kind": "train-surrogate", "params": {"data": str(data), "resume_from": job_id}}, store)

    with pytest.raises(JobSpecError, match="not found"):
        parse("20261204-203000-train-surrogate-abcdef")

    running = new_job_id("train-surrogate")
    folder = store.create(running, {}, JobStatus(job_id=running, kind="train-surrogate"))
    (folder.artifacts_dir / "model").mkdir()
    with pytest.raises(JobSpecError, match="still queued"):
        parse(running)

    outside = tmp_path / "outside"
    (outside / "artifacts" / "model").mkdir(parents=True)
    linked = "20261204-203000-train-surrogate-00aa11"
    (store.root / linked).symlink_to(outside)
    with pytest.raises(JobSpecError, match="not a plain folder"):
        parse(linked)

    escaping = make_finished_run(store, "train-surrogate", "elsewhere")
    (store.root / escaping / "artifacts" / "model").symlink_to(outside / "artifacts" / "model")
    with pytest.raises(JobSpecError, match="has no model folder"):
        parse(escaping)


def test_resume_needs_a_runs_root(tmp_path):
    data = tmp_path / "data.xyz"
    data.write_text("x")
    with pytest.raises(JobSpecError, match="needs a runs root"):
        parse_spec({"kind": "train-surrogate", "params": {"data": str(data), "resume_from": new_job_id("train-surrogate")}})


# --- job ids and run folders -----------------------------------------------


def test_new_job_id_form():
    job_id = new_job_id("train-surrogate")
    assert validate_job_id(job_id) == job_id
    assert job_id.split("-")[2:4] == ["train", "surrogate"]


@pytest.mark.parametrize("job_id", ["..", "../x", "/etc", "20261204-203000-search-ab12cd/..", "20261204-203000-search-AB12CD",
                                    "20261204-203000-search-ab12cd\n", "20261204-203000-Search-ab12cd", "", None, 5])
def test_bad_job_ids_rejected(store, job_id):
    with pytest.raises(JobSpecError, match="invalid job id"):
        store.folder(job_id)


def test_unknown_job_id(store):
    with pytest.raises(JobNotFoundError):
        store.folder("20261204-203000-search-ab12cd")


def test_symlinked_run_folder_rejected(store, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (store.root / "20261204-203000-search-ab12cd").symlink_to(outside)
    with pytest.raises(JobSpecError, match="not a plain folder"):
        store.folder("20261204-203000-search-ab12cd")
    assert store.job_ids() == []


def test_create_writes_folder_atomically(store):
    job_id = new_job_id("search")
    folder = store.create(job_id, {"spec.json": "{}\n"}, JobStatus(job_id=job_id, kind="search"))
    assert sorted(path.name for path in store.root.iterdir()) == [job_id]
    assert folder.read_status().state is JobState.QUEUED
    assert folder.artifacts_dir.is_dir()
    with pytest.raises(JobSpecError, match="already exists"):
        store.create(job_id, {}, JobStatus(job_id=job_id, kind="search"))


def test_final_state_is_kept(store):
    job_id = new_job_id("search")
    folder = store.create(job_id, {}, JobStatus(job_id=job_id, kind="search"))
    folder.record_final(JobState.SUCCEEDED, 0)
    folder.record_final(JobState.CANCELLED, None, "late cancel")
    status = folder.read_status()
    assert status.state is JobState.SUCCEEDED
    assert status.exit_code == 0
    assert status.reason is None


def test_state_change_is_logged(store, caplog):
    job_id = new_job_id("search")
    folder = store.create(job_id, {}, JobStatus(job_id=job_id, kind="search"))
    with caplog.at_level("INFO", logger="jobs.store"):
        folder.record_final(JobState.FAILED, 2, "engine command exited with status 2")
    assert [record.getMessage() for record in caplog.records] == [
        f"job {job_id}: queued -> failed (exit code 2): engine command exited with status 2"]


def test_failed_submission_leaves_nothing(store):
    manager = JobManager(store, profile=load_profile())
    with pytest.raises(SchedulerError, match="PBS is not available: qsub"):
        manager.submit(search_spec(), "pbs")
    with pytest.raises(JobSpecError):
        manager.submit(search_spec(branching=0), "local")
    with pytest.raises(JobSpecError, match="unknown backend"):
        manager.submit(search_spec(), "kubernetes")
    assert list(store.root.iterdir()) == []


def test_read_spec_file_errors(tmp_path):
    with pytest.raises(JobSpecError, match="spec file not found"):
        read_spec_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(JobSpecError, match="not a valid JSON file"):
        read_spec_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(JobSpecError, match="must be a JSON object"):
        read_spec_file(tmp_path / "list.json")


# --- scheduler output parsers -------------------------------------------------


@pytest.mark.parametrize("output, expected", [
    ("123", ("123", None)), ("123\n", ("123", None)), ("123;cluster", ("123", "cluster")),
    ("  42;gpu-cluster.a \n", ("42", "gpu-cluster.a")),
])
def test_sbatch_output_parsed(output, expected):
    assert parse_sbatch_output(output) == expected


@pytest.mark.parametrize("output", [
    "", "\n", "garbage", "Submitted batch job 123", "123;", "123;clu ster", "sbatch: error: Batch job submission failed",
    "12a", "123\n456", "-1",
])
def test_sbatch_output_rejected(output):
    with pytest.raises(SchedulerError, match="unexpected sbatch output"):
        parse_sbatch_output(output)


def test_scontrol_records_and_exit_codes():
    output = ("JobId=7 ArrayJobId=7 ArrayTaskId=0 JobName=a JobState=COMPLETED Reason=None ExitCode=0:0 Command=/x y\n"
              "JobId=8 ArrayJobId=7 ArrayTaskId=1 JobName=a JobState=FAILED Reason=NonZeroExitCode ExitCode=2:0\n")
    records = parse_scontrol_records(output)
    assert [record["JobState"] for record in records] == ["COMPLETED", "FAILED"]
    assert parse_exit_code(records[1]["ExitCode"]) == 2
    assert parse_exit_code("0:15") == 143
    assert parse_exit_code("bad") is None


@pytest.mark.parametrize("records, expected", [
    ([("PENDING", None)], JobState.QUEUED),
    ([("RUNNING", None), ("PENDING", None)], JobState.RUNNING),
    ([("COMPLETING", None)], JobState.RUNNING),
    ([("COMPLETED", 0), ("COMPLETED", 0)], JobState.SUCCEEDED),
    ([("COMPLETED", 0), ("FAILED", 2)], JobState.FAILED),
    ([("CANCELLED", 0), ("FAILED", 2)], JobState.CANCELLED),
    ([("TIMEOUT", 0)], JobState.FAILED),
    ([("WEIRD", None)], JobState.FAILED),
])
def test_slurm_states_summarized(records, expected):
    assert summarize_states(records)[0] is expected


def test_timeout_reason():
    state, _, reason, shown = summarize_states([("TIMEOUT", 0)])
    assert reason == "the time limit was reached (Slurm state TIMEOUT)"
    assert shown == "TIMEOUT"


def test_progress_lines_parsed():
    entry = parse_progress_line("2026-12-04 20:56:40,035 INFO engine.surrogate.train: epoch 2/4: train loss 1.2069, "
                                "validation loss 1.5109, validation MAE 9.950 kcal/mol, lr 3.00e-03, 0.7 s")
    assert entry["fraction"] == 0.5
    assert entry["metrics"] == {"epoch": 2, "train_loss": 1.2069, "validation_loss": 1.5109,
                                "validation_mae": 9.95, "lr": 0.003}
    entry = parse_progress_line("INFO engine.search: search stopped by max_results after 102 expansions: 11 pathways in 0.4 s")
    assert entry["metrics"] == {"expansions": 102, "pathways": 11}
    entry = parse_progress_line("2026-12-04 23:40:01,000 INFO engine.cli: pathway 3/10 found after 40 expansions")
    assert entry["fraction"] == 0.3
    assert entry["message"] == "pathway 3/10 found"
    assert entry["metrics"] == {"expansions": 40, "pathways": 3}
    assert parse_progress_line("nothing to see") is None


# --- site profiles --------------------------------------------------------------


def test_default_profile_loads():
    profile = load_profile("default")
    assert profile.scheduler == "slurm"
    assert profile.defaults.partition == "debug"


@pytest.mark.parametrize("content, message", [
    ("modules: ['cuda; rm -rf /']", "profile.modules.0"),
    ("environment: {'BAD NAME': x}", "invalid environment variable name"),
    ('setup_lines: ["a\\nb"]', "profile.setup_lines.0"),
    ("colour: blue", "profile.colour: unknown field"),
    ("defaults: {partition: 'a b'}", "profile.defaults.partition"),
    ("- a list", "expected a mapping"),
])
def test_bad_profiles_rejected(tmp_path, content, message):
    path = tmp_path / "site.yaml"
    path.write_text(content + "\n")
    with pytest.raises(JobSpecError, match=message):
        load_profile(str(path))


def test_unknown_profile_name():
    with pytest.raises(JobSpecError, match="site profile 'nowhere' not found"):
        load_profile("nowhere")


@pytest.mark.parametrize("path", ["/a b/runs", "/runs/%j", "relative/runs", "/runs/'x'", "/runs/$HOME"])
def test_directive_paths_checked(path):
    with pytest.raises(JobSpecError, match="cannot appear in a batch script directive"):
        check_directive_path(Path(path), "run folder")


# --- concurrency slots -------------------------------------------------------------


def test_slot_pool_limits_and_frees(tmp_path):
    pool = SlotPool(tmp_path / ".slots", n_slots=1, poll_s=0.01)
    first = pool.acquire("0001-a", should_stop=lambda: False)
    assert first is not None
    attempts = []
    second = pool.acquire("0002-b", should_stop=lambda: attempts.append(1) or len(attempts) > 3)
    assert second is None
    assert pool.running_count() == 1
    first.release()
    third = pool.acquire("0003-c", should_stop=lambda: False)
    assert third is not None and third.index == 0
    assert list((tmp_path / ".slots" / "queue").iterdir()) == []


def test_stale_queue_ticket_removed(tmp_path):
    pool = SlotPool(tmp_path / ".slots", n_slots=1, poll_s=0.01)
    (tmp_path / ".slots" / "queue" / "0000-dead").write_text("")
    slot = pool.acquire("0001-live", should_stop=lambda: False)
    assert slot is not None
    assert not (tmp_path / ".slots" / "queue" / "0000-dead").exists()


# --- CLI input checks --------------------------------------------------------------


def run_cli(*args: str, runs_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *args, "--runs-dir", str(runs_dir)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False)


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    runs = tmp_path / "runs"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "search", "params": {"target_size": 7, "branching": 0},
                                "resources": {"job_name": "x; rm -rf /"}}))
    cases = [("submit", str(spec)), ("status", "../../etc"), ("logs", "20261204-203000-search-ab12cd"),
             ("cancel", "not-an-id"), ("submit", str(tmp_path / "missing.json")), ("frobnicate",)]
    for args in cases:
        result = run_cli(*args, runs_dir=runs)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: "), (args, result.stderr)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
    assert not runs.exists() or list(runs.iterdir()) == []


def test_cli_list_on_empty_runs_root(tmp_path):
    result = run_cli("list", runs_dir=tmp_path / "runs")
    assert result.returncode == 0
    assert result.stdout.split() == ["ID", "KIND", "BACKEND", "STATE", "SUBMITTED", "(UTC)", "EXIT"]


def test_runs_dir_from_environment(tmp_path):
    environment = {**os.environ, "DESIGN_RUNS_DIR": str(tmp_path / "env-runs")}
    result = subprocess.run([sys.executable, "-m", "jobs", "list"], cwd=PROJECT_ROOT, env=environment,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert (tmp_path / "env-runs").is_dir()


# --- liveness checks ------------------------------------------------------------


def test_process_alive_tells_reused_pids_apart():
    ticks = start_ticks(os.getpid())
    assert process_alive(os.getpid(), ticks)
    assert not process_alive(os.getpid(), ticks + 1)
    assert os.getpid() in group_members(os.getpgid(0))
    assert group_members(os.getpgid(0), "20261204-203000-search-ab12cd") == []


@pytest.mark.parametrize("backend_name", ["local", "slurm", "pbs"])
def test_never_launched_job_becomes_lost(store, backend_name):
    manager = JobManager(store, profile=load_profile())
    job_id = new_job_id("search")
    long_ago = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    store.create(job_id, {}, JobStatus(job_id=job_id, kind="search", backend=backend_name, submitted_at=long_ago))
    status = manager.status(job_id)
    assert status.state is JobState.LOST
    assert "was recorded within 60 s of submission" in status.reason


def test_recently_submitted_job_stays_queued(store):
    manager = JobManager(store, profile=load_profile())
    job_id = new_job_id("search")
    store.create(job_id, {}, JobStatus(job_id=job_id, kind="search", backend="slurm", submitted_at=utc_now()))
    assert manager.status(job_id).state is JobState.QUEUED


def test_local_job_of_another_host_left_alone(store):
    manager = JobManager(store, profile=load_profile())
    job_id = new_job_id("search")
    store.create(job_id, {}, JobStatus(job_id=job_id, kind="search", backend="local", state=JobState.RUNNING,
                                       pid=1, pgid=1, host="elsewhere.example", submitted_at=utc_now()))
    assert manager.status(job_id).state is JobState.RUNNING
    with pytest.raises(SchedulerError, match="runs on host elsewhere.example; cancel it there"):
        manager.cancel(job_id)

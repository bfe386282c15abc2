"""Rendered sbatch and qsub scripts: golden files, shell syntax and quoting.

The golden files live in ``tests/golden/jobs/``; ``{checkout}`` in them
stands for this checkout's path. Regenerate them after an intended change
with ``UPDATE_GOLDEN=1 pytest tests/test_jobs_scripts.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.backends.pbs import render_qsub_script
from jobs.backends.slurm import render_sbatch_script
from jobs.errors import JobSpecError
from jobs.kinds import CommandContext
from jobs.profiles import SiteProfile
from jobs.spec import parse_spec
from jobs_helpers import PROJECT_ROOT, SHORT_SEARCH, injection_files

GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "jobs"
TRAIN_DATA = GOLDEN_DIR / "train-data.xyz"
TRAIN_CONFIG = GOLDEN_DIR / "tiny-config.yaml"
JOB_ID = "20261204-203000-search-ab12cd"
RUNS_ROOT = Path("/srv/design/var/runs")

PROFILE = SiteProfile(
    name="golden", project_dir="/srv/design", python=".venv/bin/python", modules=["python/3.11", "gcc/12"],
    venv=".venv", environment={"DESIGN_LOG_LEVEL": "INFO", "OMP_PROC_BIND": "close"},
    setup_lines=["ulimit -c 0"], defaults={"partition": "debug"},
)
PBS_PROFILE = PROFILE.model_copy(update={"scheduler": "pbs", "defaults": PROFILE.defaults.model_copy(
    update={"partition": "workq"})})


def render(spec_data: dict, profile: SiteProfile = PROFILE, job_id: str = JOB_ID, scheduler: str = "slurm") -> str:
    spec = parse_spec(spec_data)
    resources = profile.apply_defaults(spec.resources)
    run_dir = RUNS_ROOT / job_id
    context = CommandContext(python=str(profile.python_path), run_dir=run_dir, runs_root=RUNS_ROOT,
                             horovod=profile.horovod, n_ranks=resources.n_ranks)
    commands = spec.kind.build_commands(spec.params, context)
    renderer = render_sbatch_script if scheduler == "slurm" else render_qsub_script
    return renderer(job_id, spec, resources, commands, run_dir, profile)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    portable = text.replace(str(PROJECT_ROOT), "{checkout}")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(portable)
    assert path.exists(), f"golden file {path} is missing; create it with UPDATE_GOLDEN=1"
    assert portable == path.read_text()
    result = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


SEARCH = {"kind": "search", "params": SHORT_SEARCH, "resources": {
    "job_name": "pentamer-7", "account": "chem", "qos": "normal", "cpus_per_task": 1, "mem_gb": 2, "time_min": 30}}
TRAIN_ONE_NODE = {"kind": "train-surrogate", "params": {"data": str(TRAIN_DATA), "config": str(TRAIN_CONFIG)},
                  "resources": {"cpus_per_task": 4, "gpus_per_node": 1, "mem_gb": 16, "time_min": 120}}
TRAIN_TWO_BY_TWO = {"kind": "train-surrogate", "params": {"data": str(TRAIN_DATA), "config": str(TRAIN_CONFIG)},
                    "resources": {"nodes": 2, "tasks_per_node": 2, "cpus_per_task": 2, "time_min": 90,
                                  "partition": "gpu"}}
SEARCH_ARRAY = {"kind": "search", "params": {
    "target_size": 12, "branching": 3, "max_seconds": 600.0,
    "starts": [{"start": "pentamer"}, {"start": str(TRAIN_DATA)}, {"start": str(TRAIN_DATA), "frame": 2}]},
    "resources": {"array_parallel": 2, "time_min": 15, "mem_gb": 1.5}}


def test_sbatch_search():
    check_golden("sbatch-search.sh", render(SEARCH))


def test_sbatch_train_one_node():
    check_golden("sbatch-train-1node.sh", render(TRAIN_ONE_NODE, job_id="20261204-203000-train-surrogate-ab12cd"))


def test_sbatch_train_two_nodes_srun():
    script = render(TRAIN_TWO_BY_TWO, job_id="20261204-203000-train-surrogate-ab12cd")
    check_golden("sbatch-train-2x2.sh", script)
    assert 'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in script
    assert "srun --kill-on-bad-exit=1 --nodes=2 --ntasks=4 --ntasks-per-node=2 --cpus-per-task=2" in script


def test_sbatch_train_horovod():
    profile = PROFILE.model_copy(update={"horovod": True})
    script = render(TRAIN_TWO_BY_TWO, profile, job_id="20261204-203000-train-surrogate-ab12cd")
    check_golden("sbatch-train-2x2-horovod.sh", script)


def test_sbatch_search_array():
    script = render(SEARCH_ARRAY)
    check_golden("sbatch-search-array.sh", script)
    assert "#SBATCH --array=0-2%2" in script


def test_pbs_search():
    check_golden("pbs-search.sh", render({**SEARCH, "resources": {
        "job_name": "pentamer-7", "account": "chem", "cpus_per_task": 2, "mem_gb": 2, "time_min": 90}},
        PBS_PROFILE, scheduler="pbs"))


def test_pbs_train():
    check_golden("pbs-train.sh", render(TRAIN_ONE_NODE, PBS_PROFILE, job_id="20261204-203000-train-surrogate-ab12cd",
                                        scheduler="pbs"))


def test_pbs_search_array():
    spec = {**SEARCH_ARRAY, "resources": {"time_min": 15}}
    check_golden("pbs-search-array.sh", render(spec, PBS_PROFILE, scheduler="pbs"))


@pytest.mark.parametrize("resources, message", [
    ({"nodes": 2}, "single-rank jobs only"), ({"qos": "high"}, "no QOS"),
])
def test_pbs_rejects_what_it_cannot_express(resources, message):
    spec = {"kind": "train-surrogate", "params": {"data": str(TRAIN_DATA)}, "resources": resources}
    with pytest.raises(JobSpecError, match=message):
        render(spec, PBS_PROFILE, scheduler="pbs")


def test_run_folder_with_unsafe_characters_rejected():
    spec = parse_spec({"kind": "search", "params": SHORT_SEARCH})
    with pytest.raises(JobSpecError, match="cannot appear in a batch script directive"):
        render_sbatch_script(JOB_ID, spec, spec.resources, [["x"]], Path("/runs with space") / JOB_ID, PROFILE)


def test_injection_paths_arrive_quoted(tmp_path):
    """Run the rendered script's command line with a Python that prints its argv instead of the worker."""
    dump = tmp_path / "dump-argv"
    dump.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    dump.chmod(0o755)
    profile = PROFILE.model_copy(update={"project_dir": str(tmp_path), "python": str(dump), "modules": [],
                                         "venv": None, "setup_lines": []})
    pairs = injection_files(tmp_path)
    for path, marker in pairs:
        spec_data = {"kind": "search", "params": {**SHORT_SEARCH, "start": str(path)},
                     "resources": {"job_name": "quoted"}}
        script = render(spec_data, profile)
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False,
                                env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        argv = json.loads(result.stdout)
        assert argv[argv.index("--start") + 1] == str(path)
        assert not marker.exists(), f"{marker} was created: a path was run by the shell"
        exec_line = script.strip().splitlines()[-1]
        assert shlex.split(exec_line)[shlex.split(exec_line).index("--start") + 1] == str(path)

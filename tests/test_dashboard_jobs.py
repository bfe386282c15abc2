"""Tests of the Jobs page helpers, the job service and the job charts, against a real runs root.

Submitted jobs run on the local backend with the engine, so each test that
submits one waits a few seconds. Every job left running is cancelled at
teardown.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dashboard.context import DashboardContext
from dashboard.job_charts import empty_chart, policy_figure, surrogate_loss_figure
from dashboard.jobs_data import (
    JobArtifactError,
    JobService,
    csv_header,
    duration_seconds,
    format_duration,
    format_time,
    job_row,
    kind_of,
    last_fraction,
    policy_fraction,
    progress_percent,
    read_metrics,
    read_test_report,
    resubmit_spec,
    submission_order,
)
from dashboard.job_views import jobs_href, pathways_href, query_value
from dashboard.pages import jobs, pathways
from dashboard.settings import DEFAULT_RUNS_DIR, Settings, load_settings
from jobs.errors import JobSpecError
from jobs.spec import parse_spec
from jobs.status import JobState, JobStatus

SHORT_SEARCH = {"kind": "search", "params": {"start": "pentamer", "target_size": 7, "branching": 2}, "resources": {}}
#: Seconds to wait for the short search, which may queue behind another local job on 2 cores.
JOB_TIMEOUT_S = 120


@pytest.fixture
def service(tmp_path):
    """Yield a job service on a fresh runs root and cancel its unfinished jobs afterwards."""
    jobs_service = JobService(tmp_path / "runs")
    yield jobs_service
    for status in jobs_service.statuses():
        if not status.state.is_final:
            jobs_service.cancel(status.job_id)


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    """Run the short search once and yield ``(service, job id)``."""
    jobs_service = JobService(tmp_path_factory.mktemp("runs"))
    job_id = jobs_service.submit(SHORT_SEARCH, "local")
    status = jobs_service.manager.wait(job_id, JOB_TIMEOUT_S)
    if not status.state.is_final:
        jobs_service.cancel(job_id)
    assert status.state is JobState.SUCCEEDED, jobs_service.log_tail(job_id)
    return jobs_service, job_id


def make_status(**changes) -> JobStatus:
    values = {"job_id": "20261204-203000-search-ab12cd", "kind": "search"}
    values.update(changes)
    return JobStatus(**values)


# Settings -------------------------------------------------------------------


def test_runs_dir_default_environment_and_flag():
    assert load_settings([], {}).runs_dir == DEFAULT_RUNS_DIR
    assert load_settings([], {"DESIGN_RUNS_DIR": "/tmp/env-runs"}).runs_dir == Path("/tmp/env-runs")
    assert load_settings(["--runs-dir", "/tmp/flag-runs"], {"DESIGN_RUNS_DIR": "/tmp/env-runs"}).runs_dir == Path("/tmp/flag-runs")


def test_service_creates_runs_dir_on_first_use(tmp_path):
    jobs_service = JobService(tmp_path / "runs")

    assert not (tmp_path / "runs").exists()
    assert jobs_service.rows() == []
    assert (tmp_path / "runs").is_dir()


# Pure helpers ---------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [(None, ""), (0.04, "0.0 s"), (12.34, "12.3 s"), (65, "1 min 05 s"),
                                           (7380, "2 h 03 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_format_time_in_utc():
    assert format_time("2026-12-04T20:30:00.123456+00:00") == "2026-12-04 20:30:00"
    assert format_time(None) == ""


def test_duration_of_running_and_finished_jobs():
    now = datetime(2026, 12, 4, 20, 31, 0, tzinfo=timezone.utc)
    running = make_status(started_at="2026-12-04T20:30:00+00:00", state=JobState.RUNNING)
    finished = make_status(started_at="2026-12-04T20:30:00+00:00", finished_at="2026-12-04T20:30:10+00:00")

    assert duration_seconds(running, now) == 60.0
    assert duration_seconds(finished, now) == 10.0
    assert duration_seconds(make_status(), now) is None


def test_last_fraction_skips_entries_without_number():
    entries = [{"fraction": 0.25}, {"fraction": None}, {"fraction": 0.5}, {"message": "x"}, {"fraction": float("nan")}]

    assert last_fraction(entries) == 0.5
    assert last_fraction([]) is None
    assert last_fraction([{"fraction": 3.0}]) == 1.0


def test_progress_percent():
    assert progress_percent(JobState.SUCCEEDED, None) == 100.0
    assert progress_percent(JobState.RUNNING, 0.3333) == 33.3
    assert progress_percent(JobState.QUEUED, None) is None


def test_job_row_fields():
    status = make_status(state=JobState.RUNNING, backend="local", started_at="2026-12-04T20:30:00+00:00")
    now = datetime(2026, 12, 4, 20, 30, 30, tzinfo=timezone.utc)

    row = job_row(status, 0.5, now)

    assert row == {"job_id": status.job_id, "kind": "search", "backend": "local", "state": "running", "progress": 50.0,
                   "submitted": "", "started": "2026-12-04 20:30:00", "duration": "30.0 s"}


def test_submission_order_uses_microseconds():
    first = make_status(job_id="20261204-203000-search-ffffff", submitted_at="2026-12-04T20:30:00.000001+00:00")
    second = make_status(job_id="20261204-203000-search-000000", submitted_at="2026-12-04T20:30:00.000002+00:00")

    assert sorted([second, first], key=submission_order) == [first, second]


def test_kind_of_job_id():
    assert kind_of("20261204-203000-train-surrogate-ab12cd") == "train-surrogate"
    assert kind_of("20261204-203000-search-ab12cd") == "search"


def test_read_metrics_skips_partial_last_line(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,train_loss,validation_loss\n1,1.5,2.0\n2,1.2,\n3,")

    rows = read_metrics(path)

    assert rows[0] == {"epoch": 1.0, "train_loss": 1.5, "validation_loss": 2.0}
    assert rows[1] == {"epoch": 2.0, "train_loss": 1.2, "validation_loss": None}
    assert rows[2]["epoch"] == 3.0
    assert rows[2]["train_loss"] is None
    assert read_metrics(tmp_path / "missing.csv") == []


def test_read_metrics_skips_row_without_first_column(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("episode,return\n1,0.5\n,0.7\n")

    assert read_metrics(path) == [{"episode": 1.0, "return": 0.5}]


def test_read_test_report(tmp_path):
    good = tmp_path / "report.json"
    good.write_text(json.dumps({"n_test": 3}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")

    assert read_test_report(good) == {"n_test": 3}
    assert read_test_report(bad) is None
    assert read_test_report(listed) is None
    assert read_test_report(tmp_path / "missing.json") is None


def test_policy_fraction_from_metrics_line(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("episode,return\n1,0.5\n")

    assert csv_header(path) == ["episode", "return"]
    assert policy_fraction(["episode", "return"], "30,0.5", 120) == 0.25
    assert policy_fraction(["episode", "return"], "30,0.5", None) is None
    assert policy_fraction(["episode", "return"], None, 120) is None
    assert policy_fraction(["epoch", "loss"], "30,0.5", 120) is None


def test_resubmit_spec_drops_nulls_and_array_defaults():
    plain = {"kind": "search", "params": {"start": "pentamer", "frame": 0, "starts": None, "weights": None,
                                          "target_size": 7}, "resources": {"nodes": 1}}
    array = {"kind": "search", "params": {"start": "pentamer", "frame": 0, "starts": [{"start": "pentamer", "frame": 0}],
                                          "target_size": 7}, "resources": {}}

    assert resubmit_spec(plain) == {"kind": "search", "params": {"start": "pentamer", "frame": 0, "target_size": 7},
                                    "resources": {"nodes": 1}}
    assert "start" not in resubmit_spec(array)["params"]
    assert "frame" not in resubmit_spec(array)["params"]
    parse_spec(resubmit_spec(array))


def test_resubmit_spec_of_written_spec_is_valid():
    written = parse_spec(SHORT_SEARCH).to_dict()

    assert parse_spec(resubmit_spec(written)).to_dict() == written


def test_column_defs_cover_every_row_field():
    fields = [column["field"] for column in jobs.column_defs()]

    assert fields == ["job_id", "kind", "backend", "state", "progress", "started", "duration"]


def test_mark_selected_and_count_text():
    rows = [{"job_id": "a", "state": "running"}, {"job_id": "b", "state": "succeeded"},
            {"job_id": "c", "state": "succeeded"}]

    marked = jobs.mark_selected(rows, "b")

    assert [row["selected"] for row in marked] == [False, True, False]
    assert jobs.jobs_count_text(rows) == "3 jobs: 1 running, 2 succeeded"
    assert jobs.jobs_count_text([]) == jobs.NO_JOBS


def test_status_rows_show_reason_and_exit_code():
    status = make_status(state=JobState.FAILED, exit_code=2, reason="command exited with status 2")

    labels = dict(jobs.status_rows(status, "/runs/x"))

    assert labels["State"] == "failed"
    assert labels["Exit code"] == 2
    assert labels["Reason"] == "command exited with status 2"
    assert labels["Run folder"] == "/runs/x"


def test_detail_key_changes_only_while_running():
    final = make_status(state=JobState.SUCCEEDED)
    running = make_status(state=JobState.RUNNING)

    assert jobs.detail_key(final) == jobs.detail_key(final)
    assert jobs.detail_key(running) != jobs.detail_key(running)


def test_links_and_query_values():
    job_id = "20261204-203000-search-ab12cd"

    assert jobs_href(job_id) == f"/jobs?job={job_id}"
    assert pathways_href(job_id) == f"/pathways?job={job_id}"
    assert pathways_href(job_id, "pathways-2.json") == f"/pathways?job={job_id}&file=pathways-2.json"
    assert query_value(f"?job={job_id}&file=x", "file") == "x"
    assert query_value("", "job") is None
    assert query_value(None, "job") is None


def test_job_pathways_source_from_url():
    job_id = "20261204-203000-search-ab12cd"

    assert pathways.job_pathways_source(f"?job={job_id}") == {"kind": "job", "job_id": job_id, "file": "pathways.json"}
    assert pathways.job_pathways_source(f"?job={job_id}&file=pathways-1.json")["file"] == "pathways-1.json"
    assert pathways.job_pathways_source("?other=1") is None


def test_chosen_output_without_folder():
    with pytest.raises(JobArtifactError, match="no trained model"):
        jobs.chosen_output("20261204-203000-train-surrogate-ab12cd", None, "model", "surrogate")


# Charts ---------------------------------------------------------------------


def test_surrogate_loss_figure_traces():
    rows = [{"epoch": 1.0, "train_loss": 1.2, "validation_loss": 1.5, "validation_mae_kcal_mol": 3.0},
            {"epoch": 2.0, "train_loss": 0.9, "validation_loss": 1.3, "validation_mae_kcal_mol": 2.8}]

    figure = surrogate_loss_figure(rows, uirevision="job")

    assert [trace.name for trace in figure.data] == ["train loss", "validation loss", "validation MAE (kcal/mol)"]
    assert list(figure.data[1].y) == [1.5, 1.3]
    assert figure.layout.uirevision == "job"
    assert figure.layout.yaxis.type == "log"


def test_policy_figure_traces():
    rows = [{"episode": 1.0, "return": 1.0, "best_final_reward": 3.0}, {"episode": 2.0, "return": 2.0, "best_final_reward": 4.0}]

    figure = policy_figure(rows)

    assert [trace.name for trace in figure.data] == ["return", "best final reward"]
    assert list(figure.data[1].y) == [3.0, 4.0]


def test_empty_metrics_give_message_chart():
    assert surrogate_loss_figure([]).layout.annotations[0].text == "No epoch has finished yet."
    assert policy_figure([]).layout.annotations[0].text == "No episode has finished yet."
    assert empty_chart("x").data == ()


# Job service on real jobs -------------------------------------------------------


def test_finished_search_row_and_pathways(finished_search):
    jobs_service, job_id = finished_search

    rows = jobs_service.rows()
    path = jobs_service.pathways_path(job_id)

    assert [row["job_id"] for row in rows] == [job_id]
    assert rows[0]["state"] == "succeeded"
    assert rows[0]["progress"] == 100.0
    assert jobs_service.pathways_names(job_id) == ["pathways.json"]
    assert path == jobs_service.store.root / job_id / "artifacts" / "pathways.json"
    assert path.is_file()
    assert jobs_service.spec(job_id)["params"]["target_size"] == 7
    assert any("succeeded" in line for line in jobs_service.log_tail(job_id))


@pytest.mark.parametrize("job_id, name, message", [
    ("../etc", "pathways.json", "invalid job id"),
    ("20261204-203000-search-ab12cd", "pathways.json", "not found"),
])
def test_pathways_path_rejects_bad_job(finished_search, job_id, name, message):
    jobs_service, _ = finished_search

    with pytest.raises(JobArtifactError, match=message):
        jobs_service.pathways_path(job_id, name)


@pytest.mark.parametrize("name", ["../spec.json", "/etc/passwd", "spec.json", "pathways.json/..", "pathways-x.json", 3])
def test_pathways_path_rejects_bad_name(finished_search, name):
    jobs_service, job_id = finished_search

    with pytest.raises(JobArtifactError, match="invalid pathways file name"):
        jobs_service.pathways_path(job_id, name)


def test_pathways_path_of_missing_file(finished_search):
    jobs_service, job_id = finished_search

    with pytest.raises(JobArtifactError, match="has no pathways file pathways-3.json"):
        jobs_service.pathways_path(job_id, "pathways-3.json")


def test_artifact_outside_run_folder(finished_search):
    jobs_service, job_id = finished_search

    with pytest.raises(JobArtifactError, match="outside its run folder"):
        jobs_service.artifact(job_id, "../../x")


def test_context_opens_job_pathways(finished_search, tmp_path):
    jobs_service, job_id = finished_search
    context = DashboardContext(Settings(cache_dir=tmp_path / "cache", runs_dir=jobs_service.runs_dir))

    path, name = context.pathways_path({"kind": "job", "job_id": job_id, "file": "pathways.json"})

    assert path == jobs_service.pathways_path(job_id)
    assert job_id in name
    with pytest.raises(JobArtifactError):
        context.pathways_path({"kind": "job", "job_id": job_id, "file": "../spec.json"})


def test_model_and_policy_dirs_absent_for_search(finished_search):
    jobs_service, job_id = finished_search

    assert jobs_service.model_dir(job_id) is None
    assert jobs_service.policy_dir(job_id) is None
    assert jobs_service.metrics(job_id, "search") == []
    assert jobs_service.test_report(job_id) is None


def test_resubmit_and_cancel(service):
    long_search = {"kind": "search", "params": {"start": "pentamer", "target_size": 12, "branching": 3,
                                                "max_results": 100000, "max_expansions": 100000000,
                                                "max_seconds": 600.0}, "resources": {}}
    job_id = service.submit(long_search, "local")

    again = service.resubmit(job_id)
    cancelled = [service.cancel(again), service.cancel(job_id)]

    assert again != job_id
    assert service.spec(again) == service.spec(job_id)
    assert [status.state for status in cancelled] == [JobState.CANCELLED, JobState.CANCELLED]
    assert service.ids_of_kind("search") == [again, job_id]


def test_submit_invalid_spec_raises(service):
    with pytest.raises(JobSpecError, match="branching"):
        service.submit({"kind": "search", "params": {"target_size": 7, "branching": 0}, "resources": {}}, "local")
    with pytest.raises(JobSpecError, match="unknown backend"):
        service.submit(SHORT_SEARCH, "nowhere")
    assert service.rows() == []

"""Layout pieces, links and messages shared by the Jobs, Train and Search pages."""

from __future__ import annotations

import logging
from typing import Callable
from urllib.parse import parse_qs, urlencode

from dash import Dash, Input, Output, State, dcc, html

from engine.errors import InputError

from jobs.errors import JobSpecError, SchedulerError

from dashboard.job_forms import RESOURCE_FIELDS, backend_options

logger = logging.getLogger(__name__)

JOBS_PATH = "/jobs"
PATHWAYS_PATH = "/pathways"
#: Milliseconds between two refreshes of job tables, logs and charts.
REFRESH_INTERVAL_MS = 2000
INFO = "alert alert-info"
ERROR = "alert alert-error"
#: Name of the pathways file of a plain (not array) search job.
DEFAULT_PATHWAYS_FILE = "pathways.json"


# Links ------------------------------------------------------------------------


def jobs_href(job_id: str) -> str:
    """Return the Jobs page URL that selects ``job_id``."""
    return f"{JOBS_PATH}?{urlencode({'job': job_id})}"


def pathways_href(job_id: str, name: str = DEFAULT_PATHWAYS_FILE) -> str:
    """Return the Pathways page URL that opens a pathways file of a search job."""
    query = {"job": job_id} if name == DEFAULT_PATHWAYS_FILE else {"job": job_id, "file": name}
    return f"{PATHWAYS_PATH}?{urlencode(query)}"


def query_value(search: str | None, key: str) -> str | None:
    """Return the first value of ``key`` in a URL query string such as ``?job=...``, or None."""
    values = parse_qs((search or "").lstrip("?")).get(key)
    return values[0] if values else None


def job_link(job_id: str) -> dcc.Link:
    """Build a link to the job on the Jobs page."""
    return dcc.Link(job_id, href=jobs_href(job_id), className="job-link")


def state_badge(state: str) -> html.Span:
    """Build a coloured label of a job state."""
    return html.Span(state, className=f"state-badge state-{state}")


def newest_unless_chosen(job_ids: list[str], chosen: str | None) -> str | None:
    """Return ``chosen`` if it is among ``job_ids`` (newest first), else the newest job, else None."""
    if chosen in job_ids:
        return chosen
    return job_ids[0] if job_ids else None


# Form pieces ----------------------------------------------------------------------


def form_field(label: str, component, component_id: str) -> html.Div:
    """Build a label above an input."""
    return html.Div([html.Label(label, htmlFor=component_id), component], className="form-field")


def number_field(
    label: str, component_id: str, value: object = None, placeholder: str | None = None, persist: bool = False
) -> html.Div:
    """Build a labelled number input.

    The input sets no ``min`` or ``step``. A browser keeps the last valid
    value of a number input that breaks them, so a bound typed by mistake
    would be replaced by the old value without a word. Without them, the
    job layer rejects the value with a message that names the field.

    With ``persist``, a value the user typed is kept in the browser tab's
    session and shown again when the page is opened again.
    """
    options = {"persistence": True, "persistence_type": "session"} if persist else {}
    box = dcc.Input(id=component_id, type="number", value=value, placeholder=placeholder, className="number-input", **options)
    return form_field(label, box, component_id)


def resource_id(prefix: str, name: str) -> str:
    """Return the id of a resource input, for example ``search-resource-mem_gb``."""
    return f"{prefix}-resource-{name}"


def resources_section(prefix: str, defaults: dict[str, object], note: str) -> html.Div:
    """Build the backend picker and the scheduler resources, prefilled with the site profile's defaults.

    The scheduler fields stay hidden while the local backend is chosen:
    that backend uses only the CPU count.
    """
    fields = {}
    for name, label, kind in RESOURCE_FIELDS:
        component_id = resource_id(prefix, name)
        if kind == "text":
            box = dcc.Input(id=component_id, type="text", value=defaults.get(name), placeholder="default",
                            className="name-input")
            fields[name] = form_field(label, box, component_id)
        else:
            fields[name] = number_field(label, component_id, defaults.get(name), placeholder="default")
    scheduler = [fields[name] for name, _, _ in RESOURCE_FIELDS if name != "cpus_per_task"]
    return html.Div(
        [
            html.Div(
                [
                    form_field(
                        "Run on",
                        dcc.RadioItems(id=f"{prefix}-backend", options=backend_options(), value="local", inline=True,
                                       className="radio-row"),
                        f"{prefix}-backend",
                    ),
                    fields["cpus_per_task"],
                ],
                className="form-grid",
            ),
            html.Div(
                [html.Div(scheduler, className="form-grid"), html.P(note, className="muted")],
                id=f"{prefix}-scheduler-fields",
                hidden=True,
            ),
        ],
        className="resources",
    )


def resource_states(prefix: str) -> list[State]:
    """Return the States of the resource inputs, in the order of :data:`RESOURCE_FIELDS`."""
    return [State(resource_id(prefix, name), "value") for name, _, _ in RESOURCE_FIELDS]


def register_backend_toggle(app: Dash, prefix: str) -> None:
    """Register the callback that shows the scheduler fields for a batch backend only."""

    @app.callback(Output(f"{prefix}-scheduler-fields", "hidden"), Input(f"{prefix}-backend", "value"))
    def toggle_scheduler_fields(backend: str | None) -> bool:
        return backend in (None, "local")


# Messages ----------------------------------------------------------------------------


def submit_job(submit: Callable[[], str], description: str) -> tuple[str | None, list | str, str]:
    """Run a submission and return ``(job id or None, message, message class)``.

    Args:
        submit: Builds the spec and submits it, returning the job id.
        description: What is submitted, for the messages, such as ``search job``.

    Invalid input (:class:`JobSpecError`, :class:`InputError`) and scheduler
    failures (:class:`SchedulerError`) become an error message. The caller's
    page keeps working.
    """
    try:
        job_id = submit()
    except (JobSpecError, InputError) as error:
        logger.warning("%s not submitted: %s", description, error)
        return None, f"Could not submit the {description}: {error}", ERROR
    except SchedulerError as error:
        logger.error("%s not submitted because the scheduler failed: %s", description, error)
        return None, f"Could not submit the {description}: the scheduler failed: {error}", ERROR
    return job_id, [f"Submitted {description} ", job_link(job_id), ". Follow it here or on the Jobs page."], INFO

"""Search page: launch design searches and policy training as jobs, and follow them.

Component ids start with ``search-``. The start cluster is the cyclic
pentamer, the cluster selected on the Data page (the app-level
``data-selected-cluster`` store), or a frame of a file. That file is an
upload or a file on the server, kept in the ``search-start-file`` store
(session storage) in the forms of :mod:`dashboard.reward_data`. The reward
is a preset or the current weights of the Reward page, written to a file for
the job (which keeps a copy); the chosen reward is kept in the
``search-reward-choice`` store and the numbers of the form by Dash's
persistence, both in session storage, so the form shows them again when the
page is opened again. The policy is none (the engine's one-step reward
look-ahead) or a finished train-policy job, by default the one chosen on the
Jobs page (the app-level ``selected-policy`` store).

"Launch search" submits a ``search`` job and "Launch policy training" a
``train-policy`` job with the same start, target size and reward. The page
follows the last search it launched, with a link that opens its pathways
on the Pathways page once it has finished, and the training curves of the
chosen policy job.

The callbacks are in :mod:`dashboard.search_callbacks`, and this module
re-exports their :func:`register_callbacks` like the other pages do.
"""

from __future__ import annotations

from dash import dcc, html

from dashboard.components import alert
from dashboard.job_charts import empty_chart
from dashboard.job_forms import START_DATA, START_FILE, START_PENTAMER, profile_resources
from dashboard.job_views import REFRESH_INTERVAL_MS, number_field, resources_section
from dashboard.search_callbacks import NO_POLICY_JOB, register_callbacks
from dashboard.uploads import CLUSTER_SUFFIXES

__all__ = ["layout", "register_callbacks"]

#: Form defaults: a search that finishes in seconds on a laptop.
DEFAULT_TARGET_SIZE = 8
DEFAULT_BRANCHING = 3
DEFAULT_MAX_RESULTS = 10
DEFAULT_MAX_EXPANSIONS = 2000
DEFAULT_MAX_SECONDS = 120
DEFAULT_EPISODES = 300


def start_card() -> html.Div:
    """Build the start cluster choice."""
    upload = dcc.Upload(
        id="search-start-upload",
        children=html.Div(["Drop an .xyz or .extxyz file here or ", html.A("choose a file")]),
        className="upload-box",
        accept=",".join(CLUSTER_SUFFIXES),
        multiple=False,
    )
    file_box = html.Div(
        [
            html.Div(id="search-start-file-label", className="source-label"),
            upload,
            html.Div(
                [
                    html.Label("File on the server", htmlFor="search-start-path"),
                    dcc.Input(id="search-start-path", type="text", className="path-input", debounce=True,
                              placeholder=".xyz, .extxyz, .db, .tfrecord or .tfrecord.gz file"),
                    html.Button("Use file", id="search-start-path-load", className="button"),
                ],
                className="control-row",
            ),
            html.Div(number_field("Frame", "search-start-frame", 0), className="form-grid"),
            alert("search-start-error"),
        ],
        id="search-file-box",
        hidden=True,
    )
    data_box = html.Div(
        [
            html.Span(id="search-data-cluster", className="source-label"),
            dcc.Link("Choose another on the Data page", href="/data", className="text-link"),
        ],
        id="search-data-box",
        className="control-row",
        hidden=True,
    )
    choices = [
        {"label": "Cyclic water pentamer", "value": START_PENTAMER},
        {"label": "Cluster selected on the Data page", "value": START_DATA},
        {"label": "Frame of a file", "value": START_FILE},
    ]
    return html.Div(
        [
            html.H3("Start cluster"),
            dcc.RadioItems(id="search-start-kind", options=choices, value=START_PENTAMER, className="radio-column"),
            data_box,
            file_box,
        ],
        className="card",
    )


def search_card() -> html.Div:
    """Build the search settings, the resources and the Launch button."""
    defaults, note = profile_resources()
    return html.Div(
        [
            html.H3("Design search"),
            html.Div(
                [
                    number_field("Target size (waters)", "search-target-size", DEFAULT_TARGET_SIZE, persist=True),
                    number_field("Branching factor b", "search-branching", DEFAULT_BRANCHING, persist=True),
                    number_field("Max results", "search-max-results", DEFAULT_MAX_RESULTS, persist=True),
                    number_field("Max expansions", "search-max-expansions", DEFAULT_MAX_EXPANSIONS, persist=True),
                    number_field("Max seconds", "search-max-seconds", DEFAULT_MAX_SECONDS, persist=True),
                ],
                className="form-grid",
            ),
            html.Div(
                [
                    html.Label("Reward", htmlFor="search-reward"),
                    dcc.Dropdown(id="search-reward", clearable=False, className="picker"),
                ],
                className="control-row picker-row",
            ),
            html.P(id="search-reward-note", className="muted"),
            html.Div(
                [
                    html.Label("Policy", htmlFor="search-policy"),
                    dcc.Dropdown(id="search-policy", value="", clearable=False, className="picker"),
                ],
                className="control-row picker-row",
            ),
            html.P(id="search-policy-note", className="muted"),
            html.H3("Where to run"),
            resources_section("search", defaults, note),
            html.Div(html.Button("Launch search", id="search-launch", className="button button-primary"),
                     className="control-row launch-row"),
            alert("search-message", "info"),
            html.Div(id="search-last-job", className="control-row job-status-row"),
        ],
        className="card",
    )


def policy_card() -> html.Div:
    """Build the policy training settings, the Launch button and the training curves."""
    return html.Div(
        [
            html.H3("Train a policy"),
            html.P(
                "Trains a graph policy by reinforcement learning from the start cluster to the target size "
                "under the chosen reward, with the settings of configs/policy.yaml, on the backend chosen above.",
                className="muted",
            ),
            html.Div(
                [
                    number_field("Episodes", "search-policy-episodes", DEFAULT_EPISODES, persist=True),
                    number_field("Seed", "search-policy-seed", None, placeholder="config", persist=True),
                ],
                className="form-grid",
            ),
            html.Div(html.Button("Launch policy training", id="search-policy-launch", className="button button-primary"),
                     className="control-row launch-row"),
            alert("search-policy-message", "info"),
            html.Div(
                [
                    html.Label("Policy job", htmlFor="search-policy-job"),
                    dcc.Dropdown(id="search-policy-job", placeholder="newest policy training job", clearable=False,
                                 className="picker"),
                ],
                className="control-row",
            ),
            html.Div(id="search-policy-status", className="control-row job-status-row"),
            dcc.Graph(id="search-policy-chart", figure=empty_chart(NO_POLICY_JOB), config={"displayModeBar": False}),
        ],
        className="card",
    )


def layout() -> html.Div:
    """Build the Search page."""
    return html.Div(
        [
            dcc.Store(id="search-start-file", storage_type="session"),
            dcc.Store(id="search-last-job-id", storage_type="session"),
            dcc.Store(id="search-policy-key"),
            dcc.Store(id="search-page-ready", data=True),
            dcc.Store(id="search-reward-choice", storage_type="session"),
            dcc.Interval(id="search-interval", interval=REFRESH_INTERVAL_MS),
            html.Div([start_card(), search_card()], className="columns columns-narrow-left"),
            policy_card(),
        ],
        className="page",
    )

"""App shell: the navigation bar, the stores shared across pages and the URL router."""

from __future__ import annotations

from dash import Dash, Input, Output, dcc, html

from dashboard.job_ids import DATA_SELECTED_CLUSTER, SELECTED_POLICY, SELECTED_SURROGATE
from dashboard.pages import data, jobs, pathways, reward, search, train

#: URL path, nav label and layout function of each page; the first one is the landing page.
PAGES = (
    ("/", "Pathways", pathways.layout),
    ("/data", "Data", data.layout),
    ("/reward", "Reward", reward.layout),
    ("/train", "Train", train.layout),
    ("/search", "Search", search.layout),
    ("/jobs", "Jobs", jobs.layout),
)
#: Other URL paths of a page: alias to the path in :data:`PAGES`.
ALIASES = {"/pathways": "/"}


def nav_bar() -> html.Nav:
    """Build the navigation bar with a link per page."""
    links = [dcc.Link(label, href=path, className="nav-link", id=f"nav-{label.lower()}") for path, label, _ in PAGES]
    return html.Nav(
        [html.Span("Water cluster design", className="nav-title"), html.Div(links, className="nav-links")],
        className="nav-bar",
    )


def shell() -> html.Div:
    """Build the app layout; the router callback fills ``page-content``.

    The weights store of the Reward page sits here, outside the pages, so
    the Pathways and Search pages can read the weights set on the Reward
    page. So do the chosen model and policy and the Data page's selected
    cluster (see :mod:`dashboard.job_ids`).
    """
    return html.Div(
        [
            dcc.Location(id="url"),
            reward.weights_store(),
            dcc.Store(id=SELECTED_SURROGATE, storage_type="session"),
            dcc.Store(id=SELECTED_POLICY, storage_type="session"),
            dcc.Store(id=DATA_SELECTED_CLUSTER, storage_type="session"),
            nav_bar(),
            html.Main(id="page-content", className="main"),
        ]
    )


def not_found(path: str) -> html.Div:
    """Build the page shown for an unknown URL path."""
    return html.Div(
        html.Div([html.H2("Page not found"), html.P(f"No page at {path}."), dcc.Link("Go to the pathways", href="/")], className="card"),
        className="page",
    )


def register_router(app: Dash) -> None:
    """Register the callback that renders the page of the current URL path."""

    @app.callback(Output("page-content", "children"), Input("url", "pathname"))
    def render_page(path: str | None):
        path = ALIASES.get(path or "/", path or "/")
        for page_path, _, build in PAGES:
            if path == page_path:
                return build()
        return not_found(path or "")

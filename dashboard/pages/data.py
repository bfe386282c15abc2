"""Data page: the descriptors and energies of a cluster dataset, and the graph of a chosen cluster.

Component ids start with ``data-``. The dataset shown comes from the
``data-source`` store: ``None`` for the dataset of the settings, or a stored
upload. The store keeps its value in the browser's session storage, so an
upload stays loaded when the user switches pages or reloads. An accepted
upload replaces the table.

The selected row is copied to the app-level ``data-selected-cluster``
store, from which the Search page can start a search.
"""

from __future__ import annotations

import logging

import dash_ag_grid as dag
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from engine.cluster import Cluster
from engine.descriptors import describe
from engine.errors import ClusterFormatError, InputError

from dashboard import graph_view
from dashboard.components import reward_breakdown_table, value_table
from dashboard.context import DashboardContext
from dashboard.formatting import format_histogram
from dashboard.job_ids import DATA_SELECTED_CLUSTER
from dashboard.sources import TABLE_COLUMNS, DatasetTable, dataset_table
from dashboard.uploads import CLUSTER_SUFFIXES, StoredUpload, decode_upload, rename_source, store_bytes, upload_suffix

logger = logging.getLogger(__name__)

#: Column header of each table column.
HEADERS = {
    "source": "Source",
    "frame": "Frame",
    "energy": "Energy (kcal/mol)",
    "n_waters": "Waters",
    "n_hbonds": "H-bonds",
    "degree_mean": "Degree mean",
    "degree_variance": "Degree var.",
    "rings_3": "Rings 3",
    "rings_4": "Rings 4",
    "rings_5": "Rings 5",
    "rings_6": "Rings 6",
    "connected": "Connected",
    "diameter": "Diameter",
    "aspl": "ASPL",
    "wiener_index": "Wiener",
    "reward": "Reward",
}
#: Columns holding non-integer numbers, shown with 3 decimals.
DECIMAL_COLUMNS = ("energy", "degree_mean", "degree_variance", "aspl", "reward")
NO_SELECTION = "Select a row of the table to see the cluster's hydrogen-bond graph."


# Pure helpers ---------------------------------------------------------------


def column_defs() -> list[dict]:
    """Return the ag-grid column definitions of :data:`TABLE_COLUMNS`."""
    columns = []
    for key in TABLE_COLUMNS:
        column: dict = {"field": key, "headerName": HEADERS[key]}
        if key == "source":
            column["filter"] = "agTextColumnFilter"
            column["minWidth"] = 220
        elif key == "connected":
            column["cellDataType"] = "boolean"
        else:
            column["filter"] = "agNumberColumnFilter"
            column["type"] = "numericColumn"
        if key in DECIMAL_COLUMNS:
            column["valueFormatter"] = {"function": "params.value == null ? 'n/a' : d3.format('.3f')(params.value)"}
        elif key in ("diameter", "wiener_index"):
            column["valueFormatter"] = {"function": "params.value == null ? 'n/a' : String(params.value)"}
        columns.append(column)
    return columns


def table_rows(table: DatasetTable, size: int | None) -> list[dict]:
    """Return the grid rows of a dataset, only clusters of ``size`` waters unless it is None.

    Each row carries a ``row_id``, the frame as a string, for ag-grid.
    """
    rows = []
    for row in table.rows:
        if size is None or row["n_waters"] == size:
            # ag-grid row ids must be strings; frames are unique within one file.
            rows.append({"row_id": str(row["frame"]), **{key: row[key] for key in TABLE_COLUMNS}})
    return rows


def size_options(table: DatasetTable) -> list[dict]:
    """Return the size filter options: each cluster size in the dataset with its count."""
    counts: dict[int, int] = {}
    for cluster in table.clusters:
        counts[cluster.n_waters] = counts.get(cluster.n_waters, 0) + 1
    return [{"label": f"{size} waters ({count})", "value": size} for size, count in sorted(counts.items())]


def read_upload(contents: str | None, filename: str | None, context: DashboardContext) -> StoredUpload:
    """Decode, store and read an uploaded cluster file.

    The file is stored in the uploads folder so that the cached table can be
    keyed by its path. A file that cannot be read is deleted again.

    Raises:
        InputError: for an upload that cannot be decoded or read, with the
            uploaded file name in the message.
    """
    name = filename or "upload"
    suffix = upload_suffix(filename, CLUSTER_SUFFIXES)
    data = decode_upload(contents, filename)
    digest, path = store_bytes(data, context.uploads_dir, suffix)
    try:
        table = dataset_table(path, source_name=name)
    except ClusterFormatError as error:
        path.unlink(missing_ok=True)
        raise rename_source(error, name) from None
    logger.info("read %d clusters from upload %r (stored as %s)", len(table.clusters), name, path)
    return StoredUpload(digest, suffix, name)


def cluster_details(cluster: Cluster, row: dict) -> html.Div:
    """Build the descriptor and reward panel of one cluster."""
    descriptors = describe(cluster.water_graph)
    values = [
        ("Source", row["source"]),
        ("Frame", cluster.frame),
        ("Energy (kcal/mol)", cluster.energy),
        ("Waters", descriptors.n_waters),
        ("Hydrogen bonds", descriptors.n_hbonds),
        ("Rings of 3 / 4 / 5 / 6", " / ".join(str(getattr(descriptors, f"rings_{size}")) for size in (3, 4, 5, 6))),
        ("Connected", descriptors.connected),
        ("Diameter (bonds)", descriptors.diameter),
        ("Average shortest path (bonds)", descriptors.aspl),
        ("Wiener index", descriptors.wiener_index),
        ("Degree mean", descriptors.degree_mean),
        ("Degree variance", descriptors.degree_variance),
        ("Degree histogram (degree: waters)", format_histogram(descriptors.degree_histogram)),
    ]
    return html.Div(
        [
            html.H3(f"Frame {cluster.frame}: {cluster.n_waters} waters"),
            value_table(values),
            html.H3("Reward breakdown"),
            reward_breakdown_table(row["reward_components"], row["reward"]),
        ]
    )


# Layout ---------------------------------------------------------------------


def layout() -> html.Div:
    """Build the Data page."""
    # NOTE: uploads have no size limit. The browser sends the whole file,
    # base64-encoded, in one callback request.
    upload = dcc.Upload(
        id="data-upload",
        children=html.Div(["Drop an .xyz or .extxyz file here or ", html.A("choose a file")]),
        className="upload-box",
        accept=",".join(CLUSTER_SUFFIXES),
        multiple=False,
    )
    source = html.Div(
        [
            html.Div(
                [
                    html.Div(id="data-source-label", className="source-label"),
                    html.Button("Show the default dataset", id="data-reset", className="button"),
                ],
                className="control-row space-between",
            ),
            upload,
            html.P("An uploaded file replaces the table until you upload another one or reset.", className="muted"),
            html.Div(id="data-upload-error", className="alert alert-error", role="alert", hidden=True),
        ],
        className="card",
    )
    grid = dag.AgGrid(
        id="data-grid",
        columnDefs=column_defs(),
        rowData=[],
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "floatingFilter": False, "minWidth": 80},
        columnSize="autoSize",
        getRowId="params.data.row_id",
        dashGridOptions={
            "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
            "animateRows": False,
            "pagination": True,
            "paginationPageSize": 20,
        },
        className="ag-theme-quartz",
        style={"height": "520px", "width": "100%"},
    )
    table_card = html.Div(
        [
            html.Div(
                [
                    html.Label("Cluster size", htmlFor="data-size-filter"),
                    dcc.Dropdown(id="data-size-filter", placeholder="All sizes", clearable=True, className="picker"),
                ],
                className="control-row",
            ),
            grid,
        ],
        className="card",
    )
    detail = html.Div(
        [
            html.Div(
                [graph_view.graph_component("data-graph", height_px=420), graph_view.legend()],
                className="card graph-card",
            ),
            html.Div(html.P(NO_SELECTION, className="muted"), id="data-details", className="card"),
        ],
        className="columns columns-wide-left",
    )
    store = dcc.Store(id="data-source", storage_type="session")
    return html.Div([store, source, table_card, detail], className="page")


# Callbacks ------------------------------------------------------------------


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    """Register the callbacks of the Data page on ``app``."""

    @app.callback(
        Output("data-source", "data"),
        Output("data-upload-error", "children"),
        Output("data-upload-error", "hidden"),
        Input("data-upload", "contents"),
        Input("data-reset", "n_clicks"),
        State("data-upload", "filename"),
        prevent_initial_call=True,
    )
    def change_source(contents: str | None, _reset, filename: str | None):
        if ctx.triggered_id == "data-reset":
            return None, "", True
        if contents is None:
            raise PreventUpdate
        try:
            stored = read_upload(contents, filename, context)
        except InputError as error:
            logger.warning("rejected cluster upload %r: %s", filename, error)
            return no_update, f"Could not read the uploaded file: {error}", False
        return stored.to_dict(), "", True

    @app.callback(
        Output("data-grid", "rowData"),
        Output("data-grid", "selectedRows"),
        Output("data-size-filter", "options"),
        Output("data-size-filter", "value"),
        Output("data-source-label", "children"),
        Input("data-source", "data"),
        Input("data-size-filter", "value"),
    )
    def show_table(source: dict | None, size: int | None):
        try:
            path, name = context.dataset_path(source)
            table = dataset_table(path, source_name=name)
        except InputError as error:
            logger.error("cannot load dataset %r: %s", source, error)
            return [], [], [], None, f"Could not load the dataset: {error}"
        if ctx.triggered_id != "data-size-filter":
            size = None
        origin = "Dataset" if path == context.settings.dataset else "Uploaded file"
        count = len(table.clusters)
        label = f"{origin}: {name}, {count} cluster{'' if count == 1 else 's'}"
        rows = table_rows(table, size)
        # Select the first row so the graph panel is never empty while there is data.
        return rows, rows[:1], size_options(table), size, label

    @app.callback(
        Output("data-graph", "elements"),
        Output("data-details", "children"),
        Output(DATA_SELECTED_CLUSTER, "data"),
        Input("data-grid", "selectedRows"),
        State("data-source", "data"),
    )
    def show_cluster(selected: list[dict] | None, source: dict | None):
        if selected is None:
            raise PreventUpdate
        if not selected:
            return [], html.P(NO_SELECTION, className="muted"), None
        try:
            path, name = context.dataset_path(source)
            table = dataset_table(path, source_name=name)
            index = table.index_of(selected[0]["frame"])
        except (InputError, KeyError) as error:
            # The table callback shows dataset errors. A missing frame means the
            # selection belongs to a dataset that was replaced in the meantime.
            logger.debug("no cluster for selection %r: %s", selected, error)
            raise PreventUpdate from None
        cluster = table.clusters[index]
        graph = cluster.water_graph
        elements = graph_view.graph_elements(graph, graph_view.layout_positions(graph))
        chosen = {"source": source, "frame": cluster.frame, "n_waters": cluster.n_waters, "name": name}
        return elements, cluster_details(cluster, table.rows[index]), chosen

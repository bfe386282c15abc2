"""Ids of the app-level stores that the Jobs, Train, Search and Data pages share.

The stores sit in the app shell, outside the pages, and keep their value in
the browser's session storage, so a choice made on one page is there on the
others and after a reload.
"""

from __future__ import annotations

#: The surrogate model chosen for the reward: ``{"job_id": ..., "path": ...}`` of a train-surrogate job.
SELECTED_SURROGATE = "selected-surrogate"
#: The policy chosen for searches: ``{"job_id": ..., "path": ...}`` of a train-policy job.
SELECTED_POLICY = "selected-policy"
#: The cluster selected on the Data page: ``{"source": ..., "frame": ..., "n_waters": ..., "name": ...}``,
#: where ``source`` is the Data page's ``data-source`` value.
DATA_SELECTED_CLUSTER = "data-selected-cluster"

"""Progress entries read from the engine's log lines.

The worker passes every line of the engine's output to
:func:`parse_progress_line` on its way to ``job.log``. Recognised lines:

* surrogate training, ``engine.surrogate.train``:
  ``epoch 2/3: train loss 1.2069, validation loss 1.5109, validation MAE 9.950 kcal/mol, lr 3.00e-03, 0.7 s``
  gives fraction 2/3 and the metrics ``train_loss``, ``validation_loss``,
  ``validation_mae``, ``lr``;
* search, ``engine.search``: ``search stopped by max_results after 102
  expansions: 11 pathways in 0.49 s`` gives the metrics ``expansions`` and
  ``pathways``;
* search, ``engine.cli``: ``pathway 3/10 found after 40 expansions`` gives
  fraction 3/10 (the pathway bound; a search may also stop earlier on its
  other bounds) and the same two metrics.
"""

from __future__ import annotations

import re

EPOCH_PATTERN = re.compile(r"\bepoch (\d+)/(\d+): (.*)$")
METRIC_PATTERN = re.compile(r"^([A-Za-z][A-Za-z ]*?) (-?[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?)(?: [A-Za-z/]+)?$")
SEARCH_PATTERN = re.compile(r"\bsearch stopped by (\w+) after (\d+) expansions: (\d+) pathways")
PATHWAY_PATTERN = re.compile(r"\bpathway (\d+)/(\d+) found after (\d+) expansions")


def parse_progress_line(line: str) -> dict | None:
    """Return a progress entry (``fraction``, ``message``, ``metrics``) for a recognised line, else None."""
    match = EPOCH_PATTERN.search(line)
    if match:
        epoch, n_epochs = int(match.group(1)), int(match.group(2))
        metrics = {"epoch": epoch}
        for part in match.group(3).split(", "):
            metric = METRIC_PATTERN.match(part.strip())
            if metric:
                name = metric.group(1).strip().lower().replace(" ", "_")
                metrics[name] = float(metric.group(2))
        fraction = min(1.0, epoch / n_epochs) if n_epochs > 0 else None
        return {"fraction": fraction, "message": f"epoch {epoch}/{n_epochs}", "metrics": metrics}
    match = PATHWAY_PATTERN.search(line)
    if match:
        found, bound = int(match.group(1)), int(match.group(2))
        return {"fraction": min(1.0, found / bound) if bound > 0 else None, "message": f"pathway {found}/{bound} found",
                "metrics": {"expansions": int(match.group(3)), "pathways": found}}
    match = SEARCH_PATTERN.search(line)
    if match:
        return {"fraction": None, "message": f"search stopped by {match.group(1)}",
                "metrics": {"expansions": int(match.group(2)), "pathways": int(match.group(3))}}
    return None

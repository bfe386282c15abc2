"""The pathways file: a JSON record of a search and its design pathways.

Layout (``format`` is ``"water-pathways"``, ``version`` is 1)::

    {
      "format": "water-pathways",
      "version": 1,
      "created": "2026-01-01T00:00:00+00:00",
      "parameters": {"start": "pentamer", "target_size": 10, "branching": 3,
                     "model": "reward-lookahead", "weights": {...},
                     "min_reward": null, "settle": true, "limits": {...}},
      "stopped_by": "max_results",   # or "exhausted", "max_expansions", "max_seconds"
      "expansions": 130, "reward_evaluations": 300, "wall_seconds": 0.4,
      "pathways": [
        {"rank": 0, "final_reward": 1.4,
         "steps": [
           {"step": 0, "action": null, "graph": {"n_waters": 5, "hbonds": [[0, 1], ...]},
            "n_waters": 5, "n_hbonds": 5,
            ... the keys of ``python -m engine describe`` except source, frame and energy ...,
            "alternatives": []},
           {"step": 1, "action": {"donor": 0, "acceptor": 5, "new_water": true}, ...,
            "alternatives": [{"donor": 0, "acceptor": 5, "score": 1.2, "chosen": true}, ...]}
         ]}
      ]
    }

Step 0 is the start graph. Each later step records the action that led to
it and the ``b`` alternatives EXPLORE-NEXT returned at that point, best
first. Files are validated with pydantic on load; a file of the wrong shape
raises :class:`PathwaysFormatError` naming the field.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from engine.errors import InputError
from engine.graphs import GraphError, WaterGraph
from engine.reward import RewardWeights
from engine.search import Limits, SearchResult, Step, Target
from engine.summary import describe_record

FORMAT = "water-pathways"
VERSION = 1


class PathwaysFormatError(InputError):
    """A pathways file that cannot be loaded."""


class ActionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    donor: int
    acceptor: int
    new_water: bool


class AlternativeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    donor: int
    acceptor: int
    score: float
    chosen: bool


class GraphRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_waters: int
    hbonds: list[tuple[int, int]]


class StepRecord(BaseModel):
    """One step: the keys of ``describe`` output except source, frame and energy, plus the action and graph."""

    model_config = ConfigDict(extra="allow")
    step: int
    action: Optional[ActionRecord]
    graph: GraphRecord
    n_waters: int
    n_hbonds: int
    degree_mean: float
    degree_variance: float
    degree_histogram: list[int]
    rings_3: int
    rings_4: int
    rings_5: int
    rings_6: int
    connected: bool
    diameter: Optional[int]
    aspl: Optional[float]
    wiener_index: Optional[int]
    reward: float
    reward_components: dict[str, float]
    alternatives: list[AlternativeRecord]


class PathwayRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rank: int
    final_reward: float
    steps: list[StepRecord]

    @field_validator("steps")
    @classmethod
    def _not_empty(cls, steps: list[StepRecord]) -> list[StepRecord]:
        if not steps:
            raise ValueError("a pathway needs at least its start step")
        return steps


class PathwaysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["water-pathways"]
    version: Literal[1]
    created: str
    parameters: dict[str, Any]
    stopped_by: str
    expansions: int
    reward_evaluations: int
    wall_seconds: float
    pathways: list[PathwayRecord]

    def water_graphs(self, pathway: int) -> list[WaterGraph]:
        """Return the graphs of one pathway's steps."""
        return [WaterGraph(s.graph.n_waters, tuple(s.graph.hbonds)) for s in self.pathways[pathway].steps]


def step_record(index: int, step: Step, weights: RewardWeights) -> dict:
    """Return the JSON form of one step."""
    record: dict[str, Any] = {"step": index}
    if step.action is None:
        record["action"] = None
    else:
        record["action"] = {"donor": step.action.donor, "acceptor": step.action.acceptor, "new_water": step.new_water}
    record["graph"] = step.graph.to_dict()
    record.update(describe_record(step.descriptors, step.reward))
    record["alternatives"] = [
        {
            "donor": alt.action.donor,
            "acceptor": alt.action.acceptor,
            "score": alt.score,
            "chosen": alt.action == step.action,
        }
        for alt in step.alternatives
    ]
    return record


def result_to_dict(result: SearchResult, start: str, target: Target, branching: int, model: str,
                   weights: RewardWeights, limits: Limits) -> dict:
    """Build the pathways file content of a search result."""
    pathways = []
    for rank, steps in enumerate(result.pathways):
        pathways.append(
            {
                "rank": rank,
                "final_reward": steps[-1].reward.total,
                "steps": [step_record(i, step, weights) for i, step in enumerate(steps)],
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": {
            "start": start,
            "target_size": target.size,
            "branching": branching,
            "model": model,
            "weights": weights.to_dict(),
            "min_reward": target.min_reward,
            "settle": target.settle,
            "limits": {
                "max_results": limits.max_results,
                "max_expansions": limits.max_expansions,
                "max_seconds": limits.max_seconds,
            },
        },
        "stopped_by": result.stopped_by,
        "expansions": result.expansions,
        "reward_evaluations": result.reward_evaluations,
        "wall_seconds": result.wall_seconds,
        "pathways": pathways,
    }


def write_pathways(content: dict, path: str | Path) -> None:
    """Write a pathways file, replacing an existing one only once the new one is complete."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, indent=1) + "\n")
    partial.replace(path)


def parse_pathways(data: object, where: str = "pathways") -> PathwaysFile:
    """Validate already-decoded JSON as a pathways file.

    Raises:
        PathwaysFormatError: naming ``where`` and the first bad field.
    """
    try:
        parsed = PathwaysFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "top level"
        raise PathwaysFormatError(
            f"{where}: not a pathways file: field {location}: {first['msg']} "
            f"({error.error_count()} problem(s) in all)"
        ) from None
    for p, pathway in enumerate(parsed.pathways):
        for s, step in enumerate(pathway.steps):
            try:
                WaterGraph(step.graph.n_waters, tuple(step.graph.hbonds))
            except GraphError as error:
                raise PathwaysFormatError(f"{where}: field pathways.{p}.steps.{s}.graph: {error}") from None
    return parsed


def load_pathways(path: str | Path) -> PathwaysFile:
    """Read and validate a pathways file.

    Raises:
        PathwaysFormatError: if the file is missing, not JSON, or of the wrong shape.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise PathwaysFormatError(f"{path}: pathways file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PathwaysFormatError(f"{path}: not a JSON file ({error})") from None
    return parse_pathways(data, str(path))

"""Job specs: kind, parameters and scheduler resources, validated before anything runs.

A spec file is JSON::

    {"kind": "search",
     "params": {"start": "pentamer", "target_size": 8, "branching": 2},
     "resources": {"partition": "debug", "time_min": 30, "mem_gb": 4}}

:func:`parse_spec` validates all three parts and raises :class:`JobSpecError`
with one line naming every invalid field and, for unknown fields, the known
ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.errors import JobSpecError
from jobs.fields import CONTROL_CHARACTERS, SchedulerName
from jobs.kinds import JobKind, get_kind

#: Largest spec file read, in bytes.
MAX_SPEC_BYTES = 1_000_000


class Resources(BaseModel):
    """Scheduler settings of a job.

    The local backend uses only ``cpus_per_task`` (as the thread count of the
    engine's numerical libraries); Slurm and PBS use all of them. Names may
    contain only letters, digits, ``_ . + -``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    job_name: SchedulerName | None = None
    partition: SchedulerName | None = None
    account: SchedulerName | None = None
    qos: SchedulerName | None = None
    nodes: int = Field(1, ge=1, le=1024)
    tasks_per_node: int = Field(1, ge=1, le=256)
    cpus_per_task: int | None = Field(None, ge=1, le=1024)
    gpus_per_node: int = Field(0, ge=0, le=64)
    mem_gb: float | None = Field(None, gt=0, le=65536)
    time_min: int | None = Field(None, ge=1, le=366 * 24 * 60)
    array_parallel: int | None = Field(None, ge=1, le=10_000)

    @property
    def n_ranks(self) -> int:
        """Total number of tasks (ranks) across all nodes."""
        return self.nodes * self.tasks_per_node


@dataclass(frozen=True)
class JobSpec:
    """A validated spec.

    Attributes:
        kind: The registered kind.
        params: Validated parameters (an instance of ``kind.params_model``).
        resources: Validated scheduler settings.
    """

    kind: JobKind
    params: BaseModel
    resources: Resources

    @property
    def is_array(self) -> bool:
        return self.kind.is_array(self.params)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as written to ``spec.json``, defaults filled in."""
        return {
            "kind": self.kind.name,
            "params": self.params.model_dump(mode="json"),
            "resources": self.resources.model_dump(mode="json", exclude_none=True),
        }


def format_validation_error(error: ValidationError, where: str, model: type[BaseModel]) -> str:
    """Return one line describing every error of ``error``, with the known fields for unknown ones."""
    problems = []
    mentions_fields = False
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in (where, *item["loc"]))
        if item["type"] == "extra_forbidden":
            problems.append(f"{location}: unknown field")
            mentions_fields = True
        elif item["type"] == "missing":
            problems.append(f"{location}: missing required field")
            mentions_fields = True
        else:
            message = item["msg"].removeprefix("Value error, ")
            value = item.get("input")
            shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {value!r})"
            problems.append(f"{location}: {message}{shown}")
    text = "; ".join(problems)
    if mentions_fields:
        text += f"; known fields of {where}: {', '.join(model.model_fields)}"
    return text


def parse_spec(data: object, store=None) -> JobSpec:
    """Validate a spec given as a dict.

    Args:
        data: The decoded spec.
        store: The :class:`jobs.store.RunStore`, for parameters that name
            earlier jobs (``resume_from``).

    Raises:
        JobSpecError: naming every invalid field.
    """
    if not isinstance(data, dict):
        raise JobSpecError(f"a spec must be a JSON object with kind, params and resources, got {type(data).__name__}")
    unknown = sorted(set(data) - {"kind", "params", "resources"})
    if unknown:
        raise JobSpecError(f"unknown spec field(s) {', '.join(map(repr, unknown))}; known fields: kind, params, resources")
    if "kind" not in data:
        raise JobSpecError("spec: missing required field kind")
    kind = get_kind(data["kind"])
    params_data = data.get("params", {})
    resources_data = data.get("resources", {})
    for name, value in (("params", params_data), ("resources", resources_data)):
        if not isinstance(value, dict):
            raise JobSpecError(f"spec field {name} must be a JSON object, got {type(value).__name__}")

    problems = []
    params = resources = None
    try:
        params = kind.params_model.model_validate(params_data, context={"store": store})
    except ValidationError as error:
        problems.append(format_validation_error(error, "params", kind.params_model))
    try:
        resources = Resources.model_validate(resources_data)
    except ValidationError as error:
        problems.append(format_validation_error(error, "resources", Resources))
    if problems:
        raise JobSpecError(f"invalid {kind.name} spec: {'; '.join(problems)}")

    spec = JobSpec(kind, params, resources)
    _check_consistency(spec)
    return spec


def _check_consistency(spec: JobSpec) -> None:
    if spec.resources.n_ranks > 1 and not spec.kind.multi_rank:
        raise JobSpecError(f"invalid {spec.kind.name} spec: resources ask for {spec.resources.n_ranks} tasks, but "
                           f"{spec.kind.name} runs as one process; set nodes and tasks_per_node to 1")
    if spec.resources.n_ranks > 1 and spec.is_array:
        raise JobSpecError(f"invalid {spec.kind.name} spec: an array job runs one task per array element; "
                           f"set nodes and tasks_per_node to 1")
    if spec.resources.array_parallel is not None and not spec.is_array:
        raise JobSpecError(f"invalid {spec.kind.name} spec: resources.array_parallel applies to array jobs only")


def read_spec_file(path: str | Path, store=None) -> JobSpec:
    """Read and validate a spec file.

    Raises:
        JobSpecError: for a missing, oversized or malformed file, or an invalid spec.
    """
    text_path = str(path)
    if CONTROL_CHARACTERS.search(text_path):
        raise JobSpecError("spec file name must not contain control characters")
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise JobSpecError(f"{path}: spec file larger than {MAX_SPEC_BYTES} bytes")
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise JobSpecError(f"{path}: spec file not found") from None
    except IsADirectoryError:
        raise JobSpecError(f"{path}: is a folder, expected a JSON spec file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise JobSpecError(f"{path}: not a valid JSON file ({error})") from None
    return parse_spec(data, store)

"""Validated field types shared by the job parameters, resources and site profiles.

Every string that can reach a command line or a batch script is checked
here: names against an allowed-character pattern, input files for existence
and type, job ids through the run store. Values that pass still travel as
argv items or through :func:`shlex.quote`, never as raw shell text.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

from jobs.errors import JobSpecError
from jobs.paths import PROJECT_ROOT

#: Scheduler names (job name, partition, account, QOS, queue, module names).
SCHEDULER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
#: Reward preset names: the rule of ``engine.presets`` (letters, digits, ``-``, ``_``).
PRESET_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: Presets shipped with the project.
PRESETS_DIR = PROJECT_ROOT / "presets"
#: ASCII control characters, which no file name, name or value may contain.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MAX_PATH_LENGTH = 4096


def check_scheduler_name(value: str) -> str:
    """Return ``value`` if it is 1-64 letters, digits, ``_ . + -``, starting with a letter or digit."""
    if not SCHEDULER_NAME_PATTERN.fullmatch(value):
        raise ValueError("use 1-64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit")
    return value


def check_input_file(value: str) -> str:
    """Return the absolute, resolved path of an existing regular file.

    Relative paths are taken from the current working directory. Any
    character except control characters (NUL, line breaks) is allowed,
    because the path only ever travels as one argv item or shell-quoted.
    """
    if not value:
        raise ValueError("must not be empty")
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters such as NUL or line breaks")
    if len(value) > MAX_PATH_LENGTH:
        raise ValueError(f"must be at most {MAX_PATH_LENGTH} characters")
    path = Path(value).resolve()
    if not path.exists():
        raise ValueError(f"file {value!r} not found")
    if not path.is_file():
        raise ValueError(f"{value!r} is not a regular file")
    if CONTROL_CHARACTERS.search(str(path)):
        raise ValueError(f"{value!r} resolves to a path with control characters")
    return str(path)


def check_start(value: str) -> str:
    """Return ``pentamer`` or the resolved path of a start cluster file."""
    return value if value == "pentamer" else check_input_file(value)


def _preset_file(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.json"
    if not path.is_file():
        available = sorted(item.stem for item in PRESETS_DIR.glob("*.json"))
        raise ValueError(f"preset {name!r} not found in {PRESETS_DIR}; available: {', '.join(available) or 'none'}")
    return path


def check_weights_file(value: str) -> str:
    """Return the path of a weights file given as a preset name or a JSON file path."""
    if PRESET_NAME_PATTERN.fullmatch(value):
        return str(_preset_file(value))
    return check_input_file(value)


def check_preset_or_file(value: str) -> str:
    """Return a preset name unchanged (once it exists) or the resolved path of a preset file."""
    if PRESET_NAME_PATTERN.fullmatch(value):
        _preset_file(value)
        return value
    return check_input_file(value)


def check_preset_name(value: str) -> str:
    """Return ``value`` if it is 1-64 letters, digits, ``-`` or ``_``, starting with a letter or digit."""
    if not PRESET_NAME_PATTERN.fullmatch(value):
        raise ValueError("use 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    return value


def check_finite(value: float) -> float:
    """Return ``value`` if it is a finite number."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def earlier_run_checker(subfolder: str):
    """Return a validator for the id of an earlier, finished job that has ``artifacts/<subfolder>``.

    The validated value stays the job id. The validation context must hold
    ``store``, a :class:`jobs.store.RunStore`; the folder must be a real
    folder that resolves inside the runs root.
    """

    def check(value: str, info: ValidationInfo) -> str:
        store = (info.context or {}).get("store")
        if store is None:
            raise ValueError("needs a runs root to look the job up")
        try:
            folder = store.folder(value)
            state = folder.read_status().state
        except JobSpecError as error:
            raise ValueError(str(error)) from None
        if not state.is_final:
            raise ValueError(f"job {value} is still {state.value}; wait for it to end or cancel it first")
        target = folder.artifacts_dir / subfolder
        if target.is_symlink() or not target.is_dir():
            raise ValueError(f"job {value} has no {subfolder} folder {target}")
        if not target.resolve().is_relative_to(store.root):
            raise ValueError(f"{subfolder} folder of job {value} leaves the runs root {store.root}")
        return value

    return check


SchedulerName = Annotated[str, AfterValidator(check_scheduler_name)]
InputFile = Annotated[str, AfterValidator(check_input_file)]
StartCluster = Annotated[str, AfterValidator(check_start)]
WeightsFile = Annotated[str, AfterValidator(check_weights_file)]
PresetName = Annotated[str, AfterValidator(check_preset_name)]
PresetOrFile = Annotated[str, AfterValidator(check_preset_or_file)]
FiniteFloat = Annotated[float, AfterValidator(check_finite)]
EarlierModel = Annotated[str, AfterValidator(earlier_run_checker("model"))]
EarlierCache = Annotated[str, AfterValidator(earlier_run_checker("cache"))]
EarlierPolicy = Annotated[str, AfterValidator(earlier_run_checker("policy"))]

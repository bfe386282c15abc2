"""Pure helpers that turn the job forms of the Train and Search pages into job specs.

Nothing here imports Dash. The values come from the browser as they are
(numbers, strings or None). These helpers only pick the fields that apply,
turn whole floats into ints and resolve choices such as a preset or a
start cluster to file paths. The job layer validates every value again
(:func:`jobs.spec.parse_spec`) and reports what it rejects as a
:class:`jobs.errors.JobSpecError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.errors import InputError
from engine.presets import save_preset
from engine.search import cyclic_pentamer

from jobs.backends import BACKEND_NAMES
from jobs.errors import JobSpecError
from jobs.kinds import SearchParams
from jobs.profiles import load_profile

from dashboard.reward_logic import (
    SAVED,
    SHIPPED,
    PresetFolders,
    check_surrogate_model,
    dashboard_weights,
    describe_weights,
    load_preset_choice,
    preset_options,
    split_choice,
    stored_weights,
)

logger = logging.getLogger(__name__)

#: Label of each backend in the backend picker.
BACKEND_LABELS = {"local": "This machine", "slurm": "Slurm", "pbs": "PBS Pro"}
#: Scheduler resources of the form: field of :class:`jobs.spec.Resources`, label, input type.
RESOURCE_FIELDS = (
    ("partition", "Partition (PBS: queue)", "text"),
    ("nodes", "Nodes", "int"),
    ("tasks_per_node", "Tasks per node", "int"),
    ("cpus_per_task", "CPUs per task", "int"),
    ("gpus_per_node", "GPUs per node", "int"),
    ("mem_gb", "Memory (GB)", "float"),
    ("time_min", "Time limit (min)", "int"),
)
RESOURCE_NAMES = tuple(name for name, _, _ in RESOURCE_FIELDS)
#: Start choices of the Search page.
START_PENTAMER = "pentamer"
START_DATA = "data"
START_FILE = "file"
#: Value of the reward picker that stands for the Reward page's current weights.
CURRENT_WEIGHTS = "current"
#: Prefix of the presets saved from the Reward page's weights for a job.
CURRENT_PRESET_PREFIX = "reward-page"
#: Config keys the Train page lets the user edit: form field to (section, key).
CONFIG_KEYS = {
    "epochs": ("training", "epochs"),
    "batch_size": ("data", "batch_size"),
    "learning_rate": ("training", "learning_rate"),
}


# Values from the browser ------------------------------------------------------


def form_number(value: object) -> object:
    """Return a whole float as an int and anything else unchanged, so the job layer's strict ints accept ``7.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def set_fields(values: dict[str, object]) -> dict[str, object]:
    """Return the entries of ``values`` that are set: not None and not an empty or blank string."""
    chosen = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            continue
        chosen[name] = form_number(value)
    return chosen


def parse_decimal(value: object, name: str) -> object:
    """Return a number typed as text (such as ``3e-3``) as a float; other values unchanged.

    Raises:
        InputError: for text that is not a number, naming the field.
    """
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise InputError(f"invalid {name} {value!r}: type a number such as 0.001 or 1e-3") from None


# Backend and resources ------------------------------------------------------


def backend_options() -> list[dict]:
    """Return the backend picker options, local first."""
    return [{"label": BACKEND_LABELS.get(name, name), "value": name} for name in BACKEND_NAMES]


def profile_resources() -> tuple[dict[str, object], str]:
    """Return the site profile's default resources for the form, and a note on where they come from.

    A profile that cannot be loaded gives empty defaults and a note with the error.
    """
    try:
        profile = load_profile()
    except JobSpecError as error:
        logger.warning("cannot load the site profile: %s", error)
        return {}, f"Could not load the site profile, so no defaults are filled in: {error}"
    defaults = profile.defaults.model_dump(exclude_none=True)
    values = {name: defaults.get(name) for name in RESOURCE_NAMES}
    return values, f"Defaults from the site profile {profile.name!r} ({profile.scheduler})."


def resources_from_form(backend: str, values: dict[str, object]) -> dict[str, object]:
    """Return the ``resources`` of a spec from the form values.

    The local backend uses only ``cpus_per_task`` (the thread count of the
    numerical libraries), so only that field is sent for it. A batch
    scheduler gets every field that is set. The profile's defaults fill the
    others in when the job is submitted.
    """
    chosen = set_fields({name: values.get(name) for name in RESOURCE_NAMES})
    if backend == "local":
        return {name: value for name, value in chosen.items() if name == "cpus_per_task"}
    return chosen


# Reward weights ---------------------------------------------------------------


def reward_options(folders: PresetFolders) -> list[dict]:
    """Return the reward picker options: the Reward page's current weights, then the shipped and saved presets."""
    return [{"label": "Current weights of the Reward page", "value": CURRENT_WEIGHTS}] + preset_options(folders)


def reward_note(choice: object, folders: PresetFolders, current_weights: object, runs_dir: Path) -> str:
    """Describe the weights behind a reward picker choice, including the surrogate model when it has a weight."""
    try:
        if choice == CURRENT_WEIGHTS:
            weights = dashboard_weights(current_weights, runs_dir)
        else:
            weights = check_surrogate_model(load_preset_choice(choice, folders), runs_dir)
    except InputError as error:
        return f"This reward cannot be used: {error}."
    text = f"Weights: {describe_weights(weights)}; target degree {weights.degree_target:g}."
    if weights.uses_surrogate:
        text += f" Surrogate model: {weights.surrogate_model}."
    return text


def weights_digest(data: dict) -> str:
    """Return a short hex digest of a weights mapping, the same for equal weights."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def save_current_weights(data: object, presets_dir: Path, runs_dir: Path | None = None) -> Path:
    """Save the Reward page's current weights as a preset file in ``presets_dir`` and return the file.

    The preset's name is ``reward-page-`` and a digest of the weights, so
    the same weights always reuse the same file. The job layer copies the
    file into the job's run folder at submission. With ``runs_dir``, a
    surrogate model in the weights must be a model folder inside it.

    Raises:
        InputError: if the stored weights are invalid or name a surrogate model outside ``runs_dir``.
    """
    weights = stored_weights(data) if runs_dir is None else dashboard_weights(data, runs_dir)
    name = f"{CURRENT_PRESET_PREFIX}-{weights_digest(weights.to_dict())}"
    metadata = {"description": "Weights of the Reward page, saved when a job was submitted with them."}
    path = save_preset(name, weights, presets_dir, metadata, overwrite=True)
    logger.info("saved the Reward page's weights as preset %s", path)
    return path


def weights_argument(
    choice: object,
    folders: PresetFolders,
    current_weights: object,
    runs_dir: Path | None = None,
    weights_dir: Path | None = None,
) -> str:
    """Return the ``weights`` (search) or ``reward`` (train-policy) value of a reward picker choice.

    A shipped preset is passed by name. A saved preset, and the Reward page's
    current weights once saved as a preset file in ``weights_dir`` (default:
    the saved-presets folder), are passed as a file path. The current
    weights keep their surrogate section, so a search uses the model chosen
    for the reward; ``runs_dir`` confines that model as in
    :func:`save_current_weights`.

    Raises:
        InputError: for no choice, an unknown choice, a missing saved preset or invalid current weights.
    """
    if choice == CURRENT_WEIGHTS:
        return str(save_current_weights(current_weights, weights_dir or folders.saved, runs_dir))
    kind, name = split_choice(choice)
    if kind == SHIPPED:
        return name
    path = folders.saved / f"{name}.json"
    if kind != SAVED or not path.is_file():
        raise InputError(f"preset {name!r} not found in {folders.saved}; choose another one")
    if runs_dir is not None:
        check_surrogate_model(load_preset_choice(choice, folders), runs_dir)
    return str(path)


# Start cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class StartChoice:
    """A start cluster resolved for a spec.

    Attributes:
        start: ``pentamer`` or the path of a cluster file.
        frame: Frame of the file to start from.
        n_waters: Waters of the start graph, when known without reading the file.
        label: Description shown on the page.
    """

    start: str
    frame: int
    n_waters: int | None
    label: str

    def params(self) -> dict[str, object]:
        """Return the ``start`` and ``frame`` parameters of the spec."""
        if self.start == START_PENTAMER:
            return {"start": START_PENTAMER}
        return {"start": self.start, "frame": self.frame}


def pentamer_start() -> StartChoice:
    """Return the cyclic water pentamer as the start."""
    return StartChoice(START_PENTAMER, 0, cyclic_pentamer().n_waters, "Cyclic water pentamer")


def data_cluster_start(path: Path, cluster: object) -> StartChoice:
    """Return the cluster chosen on the Data page (the ``data-selected-cluster`` store) as the start.

    Raises:
        InputError: when no cluster is chosen or the store value is malformed.
    """
    if not isinstance(cluster, dict) or not isinstance(cluster.get("frame"), int):
        raise InputError("no cluster is selected on the Data page; select a row there first")
    n_waters = cluster.get("n_waters") if isinstance(cluster.get("n_waters"), int) else None
    label = f"Frame {cluster['frame']} of {cluster.get('name', path.name)}"
    return StartChoice(str(path), cluster["frame"], n_waters, label)


def file_start(path: Path, name: str, frame: object) -> StartChoice:
    """Return a frame of a cluster file as the start; the engine checks the frame exists when the job runs.

    Raises:
        InputError: for a frame that is not a whole number of at least 0.
    """
    frame = form_number(frame if frame not in (None, "") else 0)
    if not isinstance(frame, int) or frame < 0:
        raise InputError(f"invalid frame {frame!r}: type a whole number of at least 0")
    return StartChoice(str(path), frame, None, f"Frame {frame} of {name}")


def check_target_size(start: StartChoice, target_size: object) -> None:
    """Check that the target is above the start graph's size, when that size is known.

    Raises:
        InputError: for a target of at most the start's waters.
    """
    target_size = form_number(target_size)
    if start.n_waters is not None and isinstance(target_size, int) and target_size <= start.n_waters:
        raise InputError(
            f"target size {target_size} must be above the start graph's {start.n_waters} waters; "
            f"choose a target of at least {start.n_waters + 1}"
        )


# Specs ------------------------------------------------------------------------------


def search_accepts_policy() -> bool:
    """Return whether the job layer's search kind takes a ``policy`` parameter."""
    return "policy" in SearchParams.model_fields


def search_spec(start: StartChoice, values: dict[str, object], weights: str | None, policy_job: str | None,
                resources: dict[str, object]) -> dict:
    """Return the spec of a ``search`` job.

    Args:
        start: The start cluster.
        values: ``target_size``, ``branching``, ``max_results``, ``max_expansions``, ``max_seconds``; unset ones
            take the job layer's defaults.
        weights: The ``weights`` parameter (preset name or file), or None for the engine's default reward.
        policy_job: Id of a finished train-policy job whose policy scores the actions, or None for the
            one-step reward look-ahead.
        resources: The spec's resources.

    Raises:
        InputError: for a policy when the job layer's search kind cannot take one.
    """
    params = {**start.params(), **set_fields(values)}
    if weights is not None:
        params["weights"] = weights
    if policy_job:
        if not search_accepts_policy():
            raise InputError(
                "the job layer cannot run a search with a trained policy yet (its search kind has no policy "
                "parameter); choose 'None: one-step reward look-ahead'"
            )
        params["policy"] = policy_job
    return {"kind": "search", "params": params, "resources": resources}


def policy_spec(start: StartChoice, values: dict[str, object], reward: str, resources: dict[str, object]) -> dict:
    """Return the spec of a ``train-policy`` job.

    Args:
        start: The start cluster.
        values: ``target_size``, ``episodes`` and ``seed``; unset ones take the configuration's values.
        reward: The ``reward`` parameter: a preset name or file.
        resources: The spec's resources.
    """
    params = {**start.params(), "reward": reward, **set_fields(values)}
    return {"kind": "train-policy", "params": params, "resources": resources}


def train_spec(data: Path, config: Path | None, resources: dict[str, object]) -> dict:
    """Return the spec of a ``train-surrogate`` job on a dataset file with a config file."""
    params: dict[str, object] = {"data": str(data)}
    if config is not None:
        params["config"] = str(config)
    return {"kind": "train-surrogate", "params": params, "resources": resources}


# Surrogate configs ----------------------------------------------------------------------


def config_files(configs_dir: Path) -> list[Path]:
    """Return the surrogate configs ``surrogate*.yaml`` of a folder, sorted by name."""
    return sorted(configs_dir.glob("surrogate*.yaml"))


def read_config(path: Path) -> dict:
    """Read a surrogate config file as a mapping, without validating it.

    Raises:
        InputError: for a missing file or one that is not a YAML mapping.
    """
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"config file {path} not found") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with model, data and training sections")
    return data


def config_key_values(path: Path) -> dict[str, object]:
    """Return the values of the editable keys (:data:`CONFIG_KEYS`) of a config, defaults filled in.

    Raises:
        InputError: for a config the engine rejects.
    """
    from engine.surrogate.config import parse_config

    config = parse_config(read_config(path), str(path)).to_dict()
    return {field: config[section][key] for field, (section, key) in CONFIG_KEYS.items()}


def edited_config(path: Path, values: dict[str, object], out_dir: Path) -> Path:
    """Return the config file to train with: ``path`` itself, or a copy with the edited keys.

    An edited copy is validated by the engine and written to ``out_dir`` as
    ``<stem>-<digest>.yaml``, so the same edits reuse one file.

    Raises:
        InputError: for an invalid config or edited value, naming the key.
    """
    from engine.surrogate.config import parse_config

    chosen = set_fields({field: values.get(field) for field in CONFIG_KEYS})
    if "learning_rate" in chosen:
        chosen["learning_rate"] = parse_decimal(chosen["learning_rate"], "learning rate")
    if not chosen or chosen == {field: value for field, value in config_key_values(path).items() if field in chosen}:
        return path
    data = read_config(path)
    for field, value in chosen.items():
        section, key = CONFIG_KEYS[field]
        if not isinstance(data.get(section), dict):
            data[section] = {}
        data[section][key] = value
    parse_config(data, f"{path.name} with the edited values")
    text = yaml.safe_dump(data, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    out_dir.mkdir(parents=True, exist_ok=True)
    edited = out_dir / f"{path.stem}-{digest}.yaml"
    if not edited.is_file():
        edited.write_text(f"# {path.name} with epochs, batch size or learning rate edited on the Train page.\n" + text)
        logger.info("wrote edited surrogate config %s", edited)
    return edited

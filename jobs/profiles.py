"""Site profiles: how batch scripts set up their environment on one cluster.

A profile is a YAML file in ``jobs/site_profiles/`` (selected by name) or
anywhere (selected by path), validated with pydantic. Example::

    scheduler: slurm
    python: .venv/bin/python        # relative paths are taken from project_dir
    modules: [cuda/12.1]            # each becomes "module load NAME"
    venv: .venv                     # sourced as VENV/bin/activate
    environment: {OMP_PROC_BIND: close}
    setup_lines: []                 # trusted shell lines, copied verbatim
    defaults: {partition: debug}    # resources used when a spec leaves them out
    horovod: false
    master_port_base: 29500
    jobcomp_file: null              # jobcomp/filetxt log, when configured

``setup_lines`` are copied into scripts as written, so a profile must come
from the cluster's administrators, never from a job submitter.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobs.errors import JobSpecError
from jobs.fields import CONTROL_CHARACTERS, SchedulerName
from jobs.paths import PROJECT_ROOT
from jobs.spec import Resources, format_validation_error

#: Folder of the profiles that ship with the project.
PROFILES_DIR = Path(__file__).resolve().parent / "site_profiles"
#: Environment variable naming the site profile (a name in PROFILES_DIR or a path).
PROFILE_VARIABLE = "DESIGN_SITE_PROFILE"
#: Characters allowed in paths that appear in ``#SBATCH``/``#PBS`` lines, which
#: the scheduler parses without a shell: no spaces, quotes or ``%`` patterns.
DIRECTIVE_PATH_PATTERN = re.compile(r"/[A-Za-z0-9_./+,:@=-]*")
PROFILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ENVIRONMENT_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: Environment module names such as ``cuda/12.1`` or ``gcc-12``.
MODULE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+/-]{0,127}")


def _check_line(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must be one line without control characters")
    return value


def _check_module_name(value: str) -> str:
    if not MODULE_NAME_PATTERN.fullmatch(value):
        raise ValueError("use letters, digits and '_ . + / -', starting with a letter or digit")
    return value


OneLine = Annotated[str, AfterValidator(_check_line)]
ModuleName = Annotated[str, AfterValidator(_check_module_name)]


class SiteProfile(BaseModel):
    """Settings of one cluster site.

    Attributes:
        name: Profile name, for messages.
        scheduler: ``slurm`` or ``pbs``.
        project_dir: The checkout on the cluster; None means this checkout.
        python: Python executable that runs the worker and the engine.
        modules: Environment modules to load.
        venv: Virtual environment folder to activate; None to skip.
        environment: Variables to export (values are shell-quoted).
        setup_lines: Trusted shell lines run before the command.
        defaults: Resources applied when the spec leaves them unset.
        horovod: Whether multi-rank training uses Horovod (``--backend horovod``).
        master_port_base: First TCP port for ``MASTER_PORT``; each job adds
            its Slurm job id modulo 1000, so that jobs sharing a node differ.
        jobcomp_file: The ``jobcomp/filetxt`` log, read when ``scontrol`` has
            dropped a job's record.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SchedulerName = "default"
    scheduler: Literal["slurm", "pbs"] = "slurm"
    project_dir: OneLine | None = None
    python: OneLine = ".venv/bin/python"
    modules: list[ModuleName] = Field(default_factory=list, max_length=100)
    venv: OneLine | None = None
    environment: dict[str, OneLine] = Field(default_factory=dict, max_length=200)
    setup_lines: list[OneLine] = Field(default_factory=list, max_length=200)
    defaults: Resources = Resources()
    horovod: bool = False
    master_port_base: int = Field(29500, ge=1024, le=64535)
    jobcomp_file: OneLine | None = None

    @field_validator("environment")
    @classmethod
    def _check_environment_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENVIRONMENT_NAME_PATTERN.fullmatch(name):
                raise ValueError(f"invalid environment variable name {name!r}")
        return value

    @property
    def project_path(self) -> Path:
        """The project folder on the cluster."""
        return Path(self.project_dir) if self.project_dir else PROJECT_ROOT

    def resolve(self, value: str) -> Path:
        """Return ``value`` as an absolute path, taking a relative path from the project folder."""
        path = Path(value)
        return path if path.is_absolute() else self.project_path / path

    @property
    def python_path(self) -> Path:
        return self.resolve(self.python)

    def apply_defaults(self, resources: Resources) -> Resources:
        """Return ``resources`` with unset fields filled from :attr:`defaults`."""
        chosen = resources.model_dump(exclude_unset=True)
        merged = {**self.defaults.model_dump(exclude_unset=True), **chosen}
        return Resources.model_validate(merged)


def check_directive_path(path: Path, what: str) -> str:
    """Return ``path`` as text if it can appear in a ``#SBATCH``/``#PBS`` line.

    Raises:
        JobSpecError: naming the allowed characters.
    """
    text = str(path)
    if not DIRECTIVE_PATH_PATTERN.fullmatch(text):
        raise JobSpecError(f"{what} {text!r} cannot appear in a batch script directive: use an absolute path of "
                           f"letters, digits and '_ . / + , : @ = -' only")
    return text


def load_profile(name_or_path: str | None = None) -> SiteProfile:
    """Load a site profile by name (from ``jobs/site_profiles``) or by path.

    Without an argument, uses ``DESIGN_SITE_PROFILE`` and then ``default``.

    Raises:
        JobSpecError: for an unknown name, an unreadable file or invalid settings.
    """
    name_or_path = name_or_path or os.environ.get(PROFILE_VARIABLE) or "default"
    if PROFILE_NAME_PATTERN.fullmatch(name_or_path):
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            known = sorted(item.stem for item in PROFILES_DIR.glob("*.yaml"))
            raise JobSpecError(f"site profile {name_or_path!r} not found in {PROFILES_DIR}; known: {', '.join(known)}")
    else:
        path = Path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise JobSpecError(f"site profile file {path} not found") from None
    except yaml.YAMLError as error:
        raise JobSpecError(f"site profile {path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise JobSpecError(f"site profile {path}: expected a mapping of settings")
    data.setdefault("name", path.stem if PROFILE_NAME_PATTERN.fullmatch(path.stem) else "profile")
    try:
        return SiteProfile.model_validate(data)
    except ValidationError as error:
        raise JobSpecError(f"site profile {path}: {format_validation_error(error, 'profile', SiteProfile)}") from None

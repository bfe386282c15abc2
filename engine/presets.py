"""Reward presets: named JSON files of weights in a presets folder.

A preset file contains ``{"weights": {...}, "degree_target": x}`` and optional
metadata (a description, or how a fitted preset was made). The product ships
``presets/default.json``, the design method's default reward. Names are
restricted to letters, digits, ``-`` and ``_`` so that a preset name can
never point outside its folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.errors import InputError
from engine.reward import RewardWeights, load_weights

#: The presets folder that ships with the product.
SHIPPED_PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_preset_name(name: str) -> str:
    """Return ``name`` if it is a valid preset name.

    Raises:
        InputError: naming the rule when it is not.
    """
    if not isinstance(name, str) or not PRESET_NAME.fullmatch(name):
        raise InputError(
            f"invalid preset name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def list_presets(directory: str | Path = SHIPPED_PRESETS_DIR) -> list[str]:
    """Return the names of the presets in ``directory``, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(path.stem for path in directory.glob("*.json") if PRESET_NAME.fullmatch(path.stem))


def preset_path(name: str, directory: str | Path = SHIPPED_PRESETS_DIR) -> Path:
    return Path(directory) / f"{check_preset_name(name)}.json"


def load_preset(name: str, directory: str | Path = SHIPPED_PRESETS_DIR) -> RewardWeights:
    """Load a preset by name.

    Raises:
        InputError: for an invalid name, a missing file, bad JSON, unknown
            components or weights that are not finite numbers.
    """
    path = preset_path(name, directory)
    if not path.is_file():
        raise InputError(f"preset {name!r} not found in {directory}; available: {', '.join(list_presets(directory)) or 'none'}")
    return load_weights(path)


def save_preset(
    name: str,
    weights: RewardWeights,
    directory: str | Path = SHIPPED_PRESETS_DIR,
    metadata: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Save weights as a preset and return its path.

    Raises:
        InputError: for an invalid name, or an existing preset when
            ``overwrite`` is False.
    """
    path = preset_path(name, directory)
    if path.exists() and not overwrite:
        raise InputError(f"preset {name!r} already exists; choose another name")
    content = {"name": name, **weights.to_dict()}
    if metadata:
        content.update({key: value for key, value in metadata.items() if key not in content})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    partial.replace(path)
    return path

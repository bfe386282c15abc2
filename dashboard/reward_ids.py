"""Component ids of the Reward page that its layout and its callbacks share."""

from __future__ import annotations

#: Id of the app-level store of the current weights, shared with the Pathways page.
WEIGHTS_STORE = "reward-weights"
#: Value of the size picker that shows every size.
ALL_SIZES = "all"


def slider_id(field: str) -> str:
    """Return the id of a form field's slider, for example ``reward-slider-rings_4``."""
    return f"reward-slider-{field}"


def box_id(field: str) -> str:
    """Return the id of a form field's number box, for example ``reward-input-rings_4``."""
    return f"reward-input-{field}"

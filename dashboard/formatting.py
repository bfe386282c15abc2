"""Text forms of descriptor and reward values, shared by every page and the browser test."""

from __future__ import annotations

#: Decimal places of every non-integer value shown.
DECIMALS = 3
#: Text shown for a value that does not exist, such as the diameter of a disconnected graph.
MISSING = "n/a"


def format_value(value: object) -> str:
    """Return the display text of a descriptor or reward value.

    None becomes ``n/a``, booleans ``yes``/``no``, integers their digits and
    other numbers a fixed 3-decimal form without a negative zero.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.{DECIMALS}f}"
        return text[1:] if text == "-" + f"{0:.{DECIMALS}f}" else text
    return str(value)


def format_histogram(histogram: list[int]) -> str:
    """Return a degree histogram as ``degree: count`` pairs, for example ``2: 3, 3: 2``.

    Degrees that no water has are left out.
    """
    pairs = [f"{degree}: {count}" for degree, count in enumerate(histogram) if count]
    return ", ".join(pairs) if pairs else MISSING

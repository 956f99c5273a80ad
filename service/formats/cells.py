"""Cell values of a read file as plain JSON-safe Python values."""

from __future__ import annotations

import math
from typing import Any


def plain_value(value: Any) -> Any:
    """A JSON-safe Python value from a pandas/numpy cell (NaN and NaT become None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)

"""Numbers, distances, areas and times as a Dutch reader writes them (the quickscan report, HTML and PDF).

``getal(3596.4)`` → ``3.596``; ``procent(56.61)`` → ``56,6 %``; ``meters(3596.4)`` → ``3.596 m``;
``oppervlakte(34567)`` → ``3,46 ha (34.567 m²)``; ``tijd(datetime)`` → ``26-02-2026 14:05`` in Europe/Amsterdam.
A missing value (None, NaN) is a dash. The thin space of SI is not used: Dutch practice (and the report's readers)
put a normal space between number and unit, also before ``%`` (NEN/Taalunie).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

NIETS = "–"
_SWAP = str.maketrans(",.", ".,")  # 1,234.5 → 1.234,5
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MAANDEN = ("januari februari maart april mei juni juli augustus september oktober november december").split()


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def getal(value: float | None, digits: int = 0) -> str:
    """A number with a thousands dot and a decimal comma: ``getal(1234567.891, 2)`` → ``1.234.567,89``."""
    if _missing(value):
        return NIETS
    assert value is not None
    text = f"{value:,.{max(0, digits)}f}"
    if text.startswith("-") and set(text[1:]) <= set("0.,"):
        text = text[1:]  # no "-0,0"
    return text.translate(_SWAP)


def procent(value: float | None, digits: int = 1) -> str:
    """A percentage (0..100): ``procent(56.61)`` → ``56,6 %``; whole numbers lose their decimals (``100 %``)."""
    if _missing(value):
        return NIETS
    assert value is not None
    rounded = round(value, digits)
    return f"{getal(rounded, 0 if rounded == int(rounded) else digits)} %"


def meters(value: float | None, digits: int = 0) -> str:
    """A distance: ``meters(3596.4)`` → ``3.596 m``."""
    return NIETS if _missing(value) else f"{getal(value, digits)} m"


def oppervlakte(value_m2: float | None) -> str:
    """An area: ``8.765 m²`` below a hectare, ``3,46 ha (34.567 m²)`` from a hectare on."""
    if _missing(value_m2):
        return NIETS
    assert value_m2 is not None
    if abs(value_m2) < 10_000:
        return f"{getal(value_m2)} m²"
    return f"{getal(value_m2 / 10_000, 2)} ha ({getal(value_m2)} m²)"


def graden(value: float | None, digits: int = 2) -> str:
    """A temperature (difference): ``graden(1.234)`` → ``1,23 °C``."""
    return NIETS if _missing(value) else f"{getal(value, digits)} °C"


def tijd(moment: datetime | None) -> str:
    """A moment in Dutch time (Europe/Amsterdam, summer time included): ``26-02-2026 14:05``.

    A naive datetime is taken to be UTC (as the service stores and computes them)."""
    if moment is None:
        return NIETS
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(AMSTERDAM):%d-%m-%Y %H:%M}"


def datum(day: date | datetime | None) -> str:
    """A day, written out: ``26 februari 2026`` (a datetime is first put in Dutch time)."""
    if day is None:
        return NIETS
    if isinstance(day, datetime):
        day = (day if day.tzinfo else day.replace(tzinfo=UTC)).astimezone(AMSTERDAM).date()
    return f"{day.day} {MAANDEN[day.month - 1]} {day.year}"


_ENGLISH_PERCENT = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)\s?%")


def in_tekst(message: str) -> str:
    """A Dutch sentence whose percentages were written the English way (``56.61%``) in Dutch notation
    (``56,6 %``). Only numbers directly followed by ``%`` are touched."""
    return _ENGLISH_PERCENT.sub(lambda m: procent(float(m.group(1))), message)

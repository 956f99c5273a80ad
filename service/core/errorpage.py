"""Dutch error pages for browsers; API clients keep ``{"detail": "..."}`` (service.api.app picks which).

A request gets the HTML page when it asks ``f=html`` or when its ``Accept`` header prefers ``text/html`` over
JSON (a browser: ``text/html,...,*/*;q=0.8``). ``*/*`` alone, or no Accept at all, is an API client. The page
holds the status, a Dutch heading, the Dutch message where a fixed phrase is known (else the English detail
under a Dutch heading) and a link to /kaart. Rendered with Jinja2 and autoescape: a detail that echoes user
input is text, never markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from service.core.dutch import getal
from service.core.templates import render

HEADINGS = {
    400: "Ongeldig verzoek",
    401: "Niet aangemeld",
    403: "Geen toegang",
    404: "Niet gevonden",
    405: "Methode niet toegestaan",
    408: "Verzoek duurde te lang",
    413: "Verzoek te groot",
    415: "Soort inhoud niet ondersteund",
    422: "Ongeldige invoer",
    429: "Te veel verzoeken",
    500: "Interne fout",
    503: "Dienst niet beschikbaar",
    504: "Vraag duurde te lang",
}

_PHRASES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^Not Found$"), lambda m: "Deze pagina bestaat niet."),
    (re.compile(r"^Method Not Allowed$"), lambda m: "Deze pagina kan niet met deze methode worden opgevraagd."),
    (re.compile(r"^(?:layer|collection) '([^']*)' does not exist"), lambda m: f"De laag ‘{m[1]}’ bestaat niet."),
    (
        re.compile(r"^collection '([^']*)' has no item '([^']*)'$"),
        lambda m: f"De laag ‘{m[1]}’ heeft geen object ‘{m[2]}’.",
    ),
    (re.compile(r"^layer '([^']*)' has no version (\d+)$"), lambda m: f"De laag ‘{m[1]}’ heeft geen versie {m[2]}."),
    (re.compile(r"^the request body is empty"), lambda m: "Het verzoek is leeg; stuur GeoJSON."),
    (re.compile(r"^the request body is not valid JSON"), lambda m: "De inhoud van het verzoek is geen geldige JSON."),
    (
        re.compile(r"^the request body is larger than (\d+) bytes"),
        lambda m: f"Het verzoek is groter dan {getal(int(m[1]))} bytes (de limiet).",
    ),
    (re.compile(r"^the request holds a NUL character"), lambda m: "Het verzoek bevat een NUL-teken (%00)."),
    (re.compile(r"^writing needs an API key"), lambda m: "Voor wijzigen is een API-sleutel nodig."),
    (re.compile(r"^the API key is not known$"), lambda m: "Deze API-sleutel is onbekend."),
    (re.compile(r"^the API key has been revoked$"), lambda m: "Deze API-sleutel is ingetrokken."),
    (
        re.compile(r"^this service is read-only"),
        lambda m: "Deze dienst kan alleen lezen; wijzigingen gaan via de beheerdienst.",
    ),
    (
        re.compile(r"^the database is unavailable"),
        lambda m: "De database is niet bereikbaar; probeer het later opnieuw.",
    ),
    (re.compile(r"^the service is busy"), lambda m: "De dienst heeft het druk; probeer het zo opnieuw."),
    (
        re.compile(r"^the question took longer than the time limit"),
        lambda m: "De vraag duurde langer dan de tijdslimiet en is gestopt.",
    ),
    (re.compile(r"^internal database error$"), lambda m: "Er ging iets mis in de database."),
    (re.compile(r"^internal error"), lambda m: "Er ging iets mis in de dienst; de oorzaak staat in het logboek."),
]


def _quality(accept: str, media: str) -> float:
    """The q of ``media`` in an Accept header: its most specific matching range (exact, type/*, */*), else 0."""
    kind = media.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        name, *params = [p.strip() for p in item.split(";")]
        name = name.lower()
        q = 1.0
        for p in params:
            key, _, value = p.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        rank = 2 if name == media else 1 if name == f"{kind}/*" else 0 if name == "*/*" else -1
        if rank > best[0]:
            best = (rank, q)
    return best[1]


def wants_html(accept: str | None, f: str | None) -> bool:
    """Whether an error answer should be the Dutch HTML page: ``f=html``, or an Accept that prefers HTML."""
    if f == "html":
        return True
    if not accept:
        return False
    html = _quality(accept, "text/html")
    return html > 0 and html > _quality(accept, "application/json")


def dutch_message(detail: str) -> tuple[str | None, bool]:
    """The Dutch phrase for a known English detail (else None), and whether it says all the detail says
    (the pattern matched the whole detail); when it does not, the page shows the English detail as well."""
    for pattern, phrase in _PHRASES:
        m = pattern.search(detail)
        if m:
            return phrase(m), m.end() == len(detail.rstrip())
    return None, False


def error_html(status: int, detail: str) -> str:
    """The small Dutch page for an error answer."""
    heading = HEADINGS.get(status, "Fout" if status >= 400 else "Melding")
    dutch, complete = dutch_message(detail)
    return render("fout.html", status=status, heading=heading, dutch=dutch, english=None if complete else detail)

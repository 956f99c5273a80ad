"""The quickscan report as PDF, printed by WeasyPrint from the report's HTML (service.questions.report) with its
static map.

WeasyPrint lays the page out itself (Pango for text, its own SVG renderer), so the PDF holds real, searchable
text and the map as vector drawing, tagged as PDF/UA-1 (structure, title and language for screen readers).
Nothing is fetched while printing: the URL fetcher refuses every address but a ``data:`` URI (no network, no
local files), and fonts come from the machine (fontconfig). Without WeasyPrint or its Pango libraries the route
answers 503 with a detail that names what is missing.
"""

from __future__ import annotations

import logging
from typing import Any

from service.core.errors import ConfigurationError

log = logging.getLogger(__name__)


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango libraries are not installed
        raise ConfigurationError(
            "PDF output is not available on this server: WeasyPrint or its Pango libraries are missing",
            cause=exc,
        ) from exc
    return weasyprint


def data_only_fetcher(refused: list[str] | None = None) -> Any:
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses everything else (noted in ``refused``)."""
    from weasyprint.urls import URLFetcher, URLFetchingError

    class DataOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.strip().lower().startswith("data:"):
                if refused is not None:
                    refused.append(url)
                log.info("PDF: refused to fetch %.200s (no network, no files)", url)
                raise URLFetchingError(f"refused: {url[:200]}")
            return super().fetch(url, headers)

    return DataOnly(timeout=1, allow_redirects=False, allowed_protocols=("data",))


def html_to_pdf(html: str, *, refused: list[str] | None = None) -> bytes:
    """A PDF of an HTML page printed with its print stylesheet (A4), fetching nothing but ``data:`` URIs."""
    weasyprint = _weasyprint()
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=data_only_fetcher(refused), media_type="print")
    # PDF/UA-1: a tagged PDF (headings, tables, reading order) with its title and language, for screen readers.
    pdf: bytes = document.write_pdf(pdf_variant="pdf/ua-1")
    return pdf

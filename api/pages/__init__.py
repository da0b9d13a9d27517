"""The pages people use: window terminal, public display, kiosk, facilities, statistics.

Plain HTML, CSS and JavaScript modules shipped as package data in ``static/`` and served by the
API itself: no CDN, no front-end build, nothing fetched from the internet, so the demo and the
tests work offline. The pages log in against ``/api/v1/auth/token`` and read live updates from
the ``/api/v1/live`` event streams. Chinese by default, English with the switch in each page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

PAGES_PREFIX = "/pages"
STATIC_DIR = Path(__file__).parent / "static"


def mount_pages(app: FastAPI) -> None:
    """Serve the pages under ``/pages/`` and send ``/`` there."""
    if not STATIC_DIR.is_dir():
        raise RuntimeError(f"the pages are missing from the installed package ({STATIC_DIR})")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PAGES_PREFIX}/")

    app.mount(PAGES_PREFIX, StaticFiles(directory=STATIC_DIR, html=True), name="pages")

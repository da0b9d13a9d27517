"""One controller and one browser for a whole test module, for journey tests that walk many
pages at many viewports: starting Chromium and a controller for each case would make the
suite slow. Each case opens its own pages (tabs), so a case's login and language are its own.

Use in a module::

    from tests.browser.module_hall import module_browser, module_hall, tabs
    __all__ = ["module_browser", "module_hall", "tabs"]  # fixtures, imported to be found
    pytestmark = pytest.mark.asyncio(loop_scope="module")

and take ``tabs`` (the browser) and ``module_hall`` in each case.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Page

from hall.embedded_broker import free_port
from tests.browser.conftest import ContextBrowser, chromium
from tests.browser.hall_process import HallProcess
from tests.support.db_fixtures import (
    MigratedTemplate,
    create_database,
    drop_database,
    dsn_for_database,
)


@pytest.fixture(scope="module")
def module_hall(session_broker_url: str, pg_server_url: str, migrated_template: MigratedTemplate,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[HallProcess]:
    """A running controller on a database of this module's own, with a clerk (``clerk1``) and
    a facilities user (``fac1``)."""
    name = create_database(pg_server_url, "hall_journey", template=migrated_template.name)
    folder = tmp_path_factory.mktemp("journey")
    process = HallProcess(mqtt_url=session_broker_url,
                          database_url=dsn_for_database(pg_server_url, name),
                          prefix=f"journey-{uuid.uuid4().hex[:8]}/hall/v1", port=free_port(),
                          data_dir=folder / "data", log=folder / "hall.log")
    try:
        process.start()
        process.add_user("clerk1", "clerk")
        process.add_user("fac1", "facilities")
        yield process
    finally:
        process.stop()
        drop_database(pg_server_url, name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_browser() -> AsyncIterator[ContextBrowser]:
    async with chromium() as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def tabs(module_browser: ContextBrowser) -> AsyncIterator[ContextBrowser]:
    """The module's browser for one case; the tabs the case opened are closed after it (each
    live page holds a connection, and Chromium opens at most six to one server)."""
    before = set(module_browser.context.pages)
    yield module_browser
    for page in module_browser.context.pages:
        if page not in before:
            await page.close()


async def set_language(page: Page, language: str) -> None:
    """Choose the pages' language ("zh-CN" or "en") as the switch does, and reload."""
    await page.evaluate("(lang) => localStorage.setItem('hall.lang', lang)",
                        "en" if language == "en" else "zh")
    await page.reload()

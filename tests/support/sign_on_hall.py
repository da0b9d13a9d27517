"""A hall controller subprocess with campus sign-on, and the test IdP it trusts, for the
sign-on tests (tests/security/test_sign_on_oidc.py, tests/browser/test_sign_on.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hall.embedded_broker import free_port
from tests.browser.hall_process import ROOT, HallProcess
from tests.support.idp import TestIdp, sign_on_toml


def without_sign_on(toml: str) -> str:
    """The repository's config without its ``[sign_on]`` tables (the test writes its own)."""
    kept, skipping = [], False
    for line in toml.splitlines():
        header = re.match(r"^\[\[?([A-Za-z_.]+)\]\]?", line)
        if header is not None:
            skipping = header.group(1).split(".")[0] == "sign_on"
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


@contextmanager
def signed_on_hall(broker_url: str, database_url: str, work: Path, *,
                   cookie_secure: bool = True,
                   cas_url: str | None = None) -> Iterator[tuple[HallProcess, TestIdp]]:
    """A running IdP and a hall configured for it (local passwords for admins only), with a
    local clerk ``clerk1`` (whose password no longer opens the hall); ``cas_url``: a CAS
    server the hall offers too."""
    hall_port, idp_port = free_port(), free_port()
    hall_url = f"http://127.0.0.1:{hall_port}"
    idp = TestIdp(idp_port, hall_url, work)
    config = work / "config.toml"
    config.write_text(without_sign_on((ROOT / "config.toml").read_text(encoding="utf-8"))
                      + sign_on_toml(idp.issuer, hall_url, local_login="admins")
                      + ("" if cas_url is None else f'\n[sign_on.cas]\nserver_url = "{cas_url}"\n'),
                      encoding="utf-8")
    hall = HallProcess(mqtt_url=broker_url, database_url=database_url,
                       prefix=f"sso-{uuid.uuid4().hex[:8]}/hall/v1", port=hall_port,
                       data_dir=work / "data", log=work / "hall.log", config=config)
    hall.env["HALL_SIGN_ON_COOKIE_SECURE"] = "true" if cookie_secure else "false"
    idp.start()
    try:
        hall.start()
        try:
            hall.add_user("clerk1", "clerk")
            yield hall, idp
        finally:
            hall.stop()
    finally:
        idp.stop()

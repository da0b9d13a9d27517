"""The demo's mailbox: when ``[notify]`` names no mail server, ``hall demo`` runs a local SMTP
sink (aiosmtpd, a development dependency) and points the notifier at it, so alarm
notifications really go out; each mail is kept as an ``.eml`` file in the data dir and
logged, and the pages' delivery log shows them. It also puts a demo on-call person and a
supervisor on the rota when nobody is there yet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from hall.config import HallConfig
from hall.embedded_broker import free_port
from hall.notify_config import EmailChannelConfig
from hall_controller.notify.directory import NotifyDirectory
from hall_controller.notify.model import Channel, RecipientDraft, Role, Shift

logger = logging.getLogger(__name__)

DEMO_PEOPLE = (("值班员（演示）", Role.ONCALL, "oncall@hall-demo.local"),
               ("主管（演示）", Role.SUPERVISOR, "supervisor@hall-demo.local"))


class _Mailbox:
    """aiosmtpd handler: keeps each mail as a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        self.count += 1
        (self.folder / f"{self.count:05d}.eml").write_bytes(raw)
        subject = message_from_bytes(raw, policy=policy.default)["Subject"]
        logger.warning("demo mail to %s: %s", ", ".join(envelope.rcpt_tos), subject)
        return "250 OK"


@contextlib.contextmanager
def demo_mailbox(config: HallConfig) -> Iterator[tuple[HallConfig, Path | None]]:
    """``config`` with the notifier mailing to a local sink (and the sink's folder), or
    unchanged (and None) when a mail server is configured, notification is off, or aiosmtpd
    is not installed."""
    notify = config.notify
    if not notify.enabled or notify.email is not None:
        yield config, None
        return
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        logger.info("aiosmtpd is not installed: the demo sends no alarm mail")
        yield config, None
        return
    # aiosmtpd logs every connection at INFO (its own start-up probe too): not for the demo.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    folder = Path(config.data_dir) / "demo-mail"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    sink = Controller(_Mailbox(folder), hostname="127.0.0.1", port=port)
    sink.start()
    host = config.http.host if config.http.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104 - compared, not bound
    email = EmailChannelConfig(host="127.0.0.1", port=port, sender="hall-demo@hall-demo.local",
                               security="none")
    public_url = notify.public_url or f"http://{host}:{config.http.port}"
    try:
        yield config.model_copy(update={"notify": notify.model_copy(
            update={"email": email, "public_url": public_url})}), folder
    finally:
        sink.stop()


async def demo_rota(directory: NotifyDirectory) -> None:
    """An on-call person every day and a supervisor, when the hall has no recipients yet."""
    if await directory.recipients():
        return
    for name, role, address in DEMO_PEOPLE:
        person = await directory.save_recipient(None, RecipientDraft(
            name, role, (Channel.EMAIL,), email=address), "demo")
        if role is Role.ONCALL:
            for day in range(7):
                await directory.add_shift(Shift(person.id, day, 0, 1440), "demo")

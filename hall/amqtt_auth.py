"""An amqtt authentication plugin for the embedded demo broker.

amqtt forgets a persistent session (and the QoS 1 messages queued for it) as soon as an
*anonymous* client disconnects, and its stock plugin marks every client anonymous when
anonymous access is allowed. The controller relies on its persistent session to get what
devices sent while it was down, so here a client that gives a username keeps its session
(the controller always does) while clients without one — a quick ``mosquitto_pub`` — are
still let in. No passwords are checked: the embedded broker is for one box, not production.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class NamedClientsKeepSessions(BaseAuthPlugin):  # type: ignore[misc]
    async def authenticate(self, *, session: Session) -> bool:
        session.is_anonymous = not session.username
        return True

    @dataclass
    class Config:
        """No options."""

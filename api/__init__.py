"""The HTTP API (FastAPI): a factory over the hall controller's ports.

Only the composition root imports this package::

    from api import AuthSettings, create_app

    app = create_app(store, command_service, health_probe,
                     AuthSettings(secret=secret, token_ttl_s=config.auth.token_ttl_s))
"""

from api.app import create_app
from api.auth import Authenticator, Principal, require_role
from hall_controller.users.service import AuthSettings

__all__ = ["AuthSettings", "Authenticator", "Principal", "create_app", "require_role"]

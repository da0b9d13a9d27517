"""The HTTP API (FastAPI): a factory over the hall controller's ports.

Only the composition root imports this package::

    from api import AuthSettings, create_app, ensure_user

    app = create_app(store, command_service, health_probe,
                     AuthSettings(secret=secret, token_ttl_s=config.auth.token_ttl_s))
"""

from api.app import create_app
from api.auth import Authenticator, AuthSettings, Principal, ensure_user, require_role

__all__ = [
    "AuthSettings", "Authenticator", "Principal", "create_app", "ensure_user", "require_role",
]

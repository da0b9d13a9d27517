"""The HTTP API (FastAPI): routes over the hall's services, found by type.

Only the composition root imports this package; it registers the services (the fleet's, the
``Authenticator``, and those of each installed feature) and hands them over::

    from api import create_app

    app = create_app(services)   # a hall_controller.kernel.services.Services

Routes get a service with ``Depends(api.services.provide(Kind))``; a feature's routes are
mounted only when its services are registered (``api.app.FEATURE_ROUTERS``).
"""

from api.app import create_app
from api.auth import Authenticator, Principal, require_role
from hall_controller.users.service import AuthSettings

__all__ = ["AuthSettings", "Authenticator", "Principal", "create_app", "require_role"]

"""``ProvisioningStore`` in memory: the fake the unit tests and the memory controller use.

``credentials`` is public so tests can look at what was stored; ``available = False`` makes
every call raise StoreUnavailable, as a database outage would.
"""

from __future__ import annotations

from hall_controller.fleet.provisioning import DeviceCredential
from hall_controller.kernel.errors import StoreUnavailable


class MemoryProvisioningStore:
    """Provisioned device credentials, by device id."""

    def __init__(self) -> None:
        self.available = True
        self.credentials: dict[str, DeviceCredential] = {}

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory provisioning store set unavailable")

    async def get_credential(self, device_id: str) -> DeviceCredential | None:
        self._check()
        return self.credentials.get(device_id)  # frozen: no copy needed

    async def get_credentials(self, device_ids: list[str]) -> dict[str, DeviceCredential]:
        self._check()
        return {d: self.credentials[d] for d in device_ids if d in self.credentials}

    async def list_credentials(self) -> list[DeviceCredential]:
        self._check()
        return [self.credentials[d] for d in sorted(self.credentials)]

    async def save_credential(self, credential: DeviceCredential) -> None:
        self._check()
        self.credentials[credential.device_id] = credential

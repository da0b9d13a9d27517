"""Device provisioning (admin only): provision a device and get its one-time bundle, re-key
it, revoke it, and list what is provisioned (never a secret: the password is kept only as a
hash, the command key is not shown again after the bundle)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly
from api.params import NO_NUL, DeviceId
from api.refusal import unprocessable
from api.services import provide
from devices.contract import DEVICE_ID_PATTERN
from devices.kinds import DeviceKind
from hall_controller.fleet.provisioning import (
    CredentialStatus,
    DeviceCredential,
    InvalidProvisioning,
    ProvisioningBundle,
    ProvisioningService,
)

Provisioning = Annotated[ProvisioningService, Depends(provide(ProvisioningService))]
router = APIRouter(prefix="/provisioning", tags=["devices"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "the device is not provisioned"},
    409: {"description": "refused in the device's current state"},
}


class ProvisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=f"^{DEVICE_ID_PATTERN}$", description="the device id")
    kind: DeviceKind = Field(description="fixed by the admin: a birth claiming another is refused")
    site: str = Field(default="", max_length=100, pattern=NO_NUL)


class CredentialOut(BaseModel):
    device_id: str
    kind: DeviceKind
    site: str
    status: CredentialStatus
    created_ms: int
    created_by: str
    rotated_ms: int | None
    rotated_by: str | None
    revoked_ms: int | None
    revoked_by: str | None

    @classmethod
    def build(cls, c: DeviceCredential) -> CredentialOut:
        return cls(device_id=c.device_id, kind=c.kind, site=c.site, status=c.status,
                   created_ms=c.created_ms, created_by=c.created_by, rotated_ms=c.rotated_ms,
                   rotated_by=c.rotated_by, revoked_ms=c.revoked_ms, revoked_by=c.revoked_by)


class BundleOut(BaseModel):
    """Shown once: the device host's settings (``toml``: its config.toml tables)."""

    device_id: str
    kind: DeviceKind
    site: str
    username: str
    password: str
    command_key: str = Field(description="hex")
    broker_url: str = Field(description="with the device's username and password")
    topic_prefix: str
    toml: str


def _bundle(provisioning: ProvisioningService, bundle: ProvisioningBundle) -> BundleOut:
    return BundleOut.model_validate(provisioning.bundle_wire(bundle))


@router.get("", response_model=list[CredentialOut])
async def list_provisioned(_: AdminOnly, provisioning: Provisioning) -> list[CredentialOut]:
    """Every provisioned device with its status and who did what when."""
    return [CredentialOut.build(c) for c in await provisioning.all()]


@router.post("", response_model=BundleOut, status_code=201,
             responses={409: {"description": "the device is provisioned already"},
                        422: {"description": "a reserved device id (the controller's)"}})
async def provision(body: ProvisionIn, principal: AdminOnly,
                    provisioning: Provisioning) -> BundleOut:
    """Provision a device (or one revoked before); the answer is its one-time bundle."""
    try:
        bundle = await provisioning.provision(body.device_id, body.kind, body.site,
                                              f"user:{principal.name}")
    except InvalidProvisioning as exc:
        raise unprocessable(exc) from None
    return _bundle(provisioning, bundle)


@router.post("/{device_id}/rekey", response_model=BundleOut, responses=_RESPONSES)
async def rekey(device_id: DeviceId, principal: AdminOnly,
                provisioning: Provisioning) -> BundleOut:
    """A new password and command key; the old ones are refused from now on."""
    return _bundle(provisioning, await provisioning.rekey(device_id, f"user:{principal.name}"))


@router.post("/{device_id}/revoke", response_model=CredentialOut, responses=_RESPONSES)
async def revoke(device_id: DeviceId, principal: AdminOnly,
                 provisioning: Provisioning) -> CredentialOut:
    """Shut the device out: its messages are refused and the broker refuses its login."""
    return CredentialOut.build(await provisioning.revoke(device_id, f"user:{principal.name}"))

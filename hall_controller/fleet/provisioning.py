"""Device identity: what an admin provisions for each device, and what the controller and the
brokers check against it.

``hall devices provision`` (or the API) fixes a device's kind and site and gives it MQTT
credentials (username = device id, a random password kept only as a hash) and a random
command key. The device host gets them once, as a bundle of the settings ``hall edge`` reads;
afterwards the password exists only as its hash and the key is never shown again. ``revoke``
shuts a device out; ``rekey`` gives it a new password and key and the old ones stop working.

The password hash is Mosquitto's own PBKDF2-SHA512 format (``$7$<iterations>$<salt>$<hash>``,
what ``mosquitto_passwd`` writes): one stored value serves the embedded broker's check, the
Mosquitto password file and the EMQX import alike, so there is no second hash to keep in step.
A slow memory-hard hash (argon2) would protect *guessable* passwords; these are 192 random
bits, which no iteration count makes easier or harder to guess, so PBKDF2 with more
iterations than Mosquitto's default (101) is defence in depth, not the defence.

``DeviceIdentities`` is the controller's view: an in-memory cache of the credentials (loaded
at start, re-read every few seconds and on a miss) that the ingest pipeline asks, message by
message and without I/O, whether a device may speak and what kind it is.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from devices.contract import is_valid_device_id, now_ms
from devices.kinds import DeviceKind
from devices.signing import derive_device_key
from hall_controller.fleet.ports import ProvisioningStore
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, HallError, NotFound

logger = logging.getLogger(__name__)

MQTT_HASH_ITERATIONS = 10_000
"""PBKDF2 rounds for new hashes (Mosquitto reads the count from the hash; its own default is 101)."""
PASSWORD_BYTES = 24   # 192 bits, as 32 URL-safe characters
COMMAND_KEY_BYTES = 32
UNKNOWN_DEVICE = "unknown_device"
REVOKED_DEVICE = "revoked_device"


class InvalidProvisioning(HallError):
    """A provisioning request that cannot be carried out as given (a bad id, say)."""

    default_code = ErrorCode.INVALID


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """One provisioned device: its fixed kind and site, its secrets and their history."""

    device_id: str
    kind: DeviceKind
    site: str
    password_hash: str
    command_key: bytes = b""  # never in repr (see __repr__)
    status: CredentialStatus = CredentialStatus.ACTIVE
    created_ms: int = 0
    created_by: str = ""
    rotated_ms: int | None = None
    rotated_by: str | None = None
    revoked_ms: int | None = None
    revoked_by: str | None = None

    def __repr__(self) -> str:  # never print the key (logs, tracebacks)
        return (f"DeviceCredential({self.device_id!r}, {self.kind.value}, {self.status.value}, "
                f"site={self.site!r})")

    @property
    def active(self) -> bool:
        return self.status is CredentialStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ProvisioningBundle:
    """What the device host gets once: the settings ``hall edge`` reads."""

    device_id: str
    kind: DeviceKind
    site: str
    password: str
    command_key: bytes

    def __repr__(self) -> str:
        return f"ProvisioningBundle({self.device_id!r}, {self.kind.value})"

    def broker_url(self, broker_url: str) -> str:
        """``broker_url`` (``mqtt://host:port``) with this device's username and password."""
        scheme, sep, rest = broker_url.partition("://")
        if not sep:
            scheme, rest = "mqtt", broker_url
        rest = rest.rpartition("@")[2]  # whatever credentials it had are not this device's
        return f"{scheme}://{self.device_id}:{self.password}@{rest}"

    def to_toml(self, broker_url: str, topic_prefix: str) -> str:
        """The ``[mqtt]`` and ``[edge]`` tables for the device host's config.toml."""
        return "\n".join([
            f"# {self.device_id}: shown once; keep it only on the device host",
            "[mqtt]",
            f"url = {_toml_string(self.broker_url(broker_url))}",
            f"topic_prefix = {_toml_string(topic_prefix)}",
            "",
            "[edge]",
            f"device_id = {_toml_string(self.device_id)}",
            f"kind = {_toml_string(self.kind.value)}",
            f"site = {_toml_string(self.site)}",
            f"command_key = {_toml_string(self.command_key.hex())}",
            "",
        ])

    def to_wire(self, broker_url: str, topic_prefix: str) -> dict[str, object]:
        return {"device_id": self.device_id, "kind": self.kind.value, "site": self.site,
                "username": self.device_id, "password": self.password,
                "command_key": self.command_key.hex(),
                "broker_url": self.broker_url(broker_url), "topic_prefix": topic_prefix,
                "toml": self.to_toml(broker_url, topic_prefix)}


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- Mosquitto's password hash -----------------------------------------------------------------

def hash_mqtt_password(password: str, *, iterations: int = MQTT_HASH_ITERATIONS,
                       salt: bytes | None = None) -> str:
    """``$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>``, as ``mosquitto_passwd``
    writes it (12-byte salt, 64-byte hash)."""
    # Twelve bytes, as mosquitto_passwd uses, but printable: EMQX's built-in database takes
    # a salt as text, so the same hash can be imported there (docs/deployment.md).
    salt = secrets.token_urlsafe(9).encode() if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return (f"$7${iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def verify_mqtt_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash; anything unreadable is a mismatch."""
    try:
        _, scheme, rounds, salt_b64, digest_b64 = password_hash.split("$")
        iterations = int(rounds)
        if scheme != "7" or not 1 <= iterations <= 1_000_000:
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(actual, expected)


# -- use cases -----------------------------------------------------------------------------------

Clock = Callable[[], int]
CredentialListener = Callable[[DeviceCredential], None]


class ProvisioningService:
    """Provision, revoke and re-key devices (``hall devices ...`` and the admin API)."""

    def __init__(self, store: ProvisioningStore, *, clock: Clock = now_ms,
                 iterations: int = MQTT_HASH_ITERATIONS, broker_url: str = "mqtt://127.0.0.1:1883",
                 topic_prefix: str = "hall/v1", reserved: Iterable[str] = ("hall-controller",)
                 ) -> None:
        """``broker_url`` and ``topic_prefix``: what the bundles tell device hosts.
        ``reserved``: broker usernames no device may have (the controller's)."""
        self._store = store
        self._reserved = frozenset(reserved)
        self.broker_url = broker_url
        self.topic_prefix = topic_prefix
        self._clock = clock
        self._iterations = iterations
        self._listeners: list[CredentialListener] = []

    def subscribe(self, listener: CredentialListener) -> None:
        """Hear every change at once (the controller's cache, the broker's)."""
        self._listeners.append(listener)

    async def provision(self, device_id: str, kind: DeviceKind, site: str, by: str
                        ) -> ProvisioningBundle:
        """New credentials for a device not provisioned yet, or provisioned and revoked (it
        starts over with new secrets). Raises Conflict for an active one: use ``rekey``."""
        if not is_valid_device_id(device_id):
            raise InvalidProvisioning(f"device id {device_id!r}: expected lower-case letters, "
                                      "digits and dashes (at most 63)")
        if device_id in self._reserved:
            raise InvalidProvisioning(f"{device_id!r} is the controller's broker account")
        if len(site) > 100:
            raise InvalidProvisioning("site: at most 100 characters")
        existing = await self._store.get_credential(device_id)
        if existing is not None and existing.active:
            raise Conflict(f"{device_id} is provisioned already (as {existing.kind.value}); "
                           "rekey it for new secrets, or revoke it first",
                           code=ErrorCode.DEVICE_PROVISIONED, device=device_id)
        password, key = _new_password(), secrets.token_bytes(COMMAND_KEY_BYTES)
        credential = DeviceCredential(device_id, kind, site.strip(), await self._hash(password),
                                      key, CredentialStatus.ACTIVE, self._clock(), by)
        await self._store.save_credential(credential)
        self._tell(credential)
        logger.info("device %s provisioned as %s by %s", device_id, kind.value, by,
                    extra={"device_id": device_id})
        return ProvisioningBundle(device_id, kind, credential.site, password, key)

    async def rekey(self, device_id: str, by: str) -> ProvisioningBundle:
        """A new password and command key; the old ones are refused from now on."""
        credential = await self._existing(device_id)
        if not credential.active:
            raise Conflict(f"{device_id} is revoked; provision it again",
                           code=ErrorCode.DEVICE_REVOKED, device=device_id)
        password, key = _new_password(), secrets.token_bytes(COMMAND_KEY_BYTES)
        updated = replace(credential, password_hash=await self._hash(password),
                          command_key=key, rotated_ms=self._clock(), rotated_by=by)
        await self._store.save_credential(updated)
        self._tell(updated)
        logger.info("device %s re-keyed by %s", device_id, by, extra={"device_id": device_id})
        return ProvisioningBundle(device_id, updated.kind, updated.site, password, key)

    async def revoke(self, device_id: str, by: str) -> DeviceCredential:
        """Shut the device out; revoking twice changes nothing."""
        credential = await self._existing(device_id)
        if not credential.active:
            return credential
        revoked = replace(credential, status=CredentialStatus.REVOKED,
                          revoked_ms=self._clock(), revoked_by=by)
        await self._store.save_credential(revoked)
        self._tell(revoked)
        logger.warning("device %s revoked by %s", device_id, by, extra={"device_id": device_id})
        return revoked

    def bundle_wire(self, bundle: ProvisioningBundle) -> dict[str, object]:
        return bundle.to_wire(self.broker_url, self.topic_prefix)

    async def get(self, device_id: str) -> DeviceCredential | None:
        return await self._store.get_credential(device_id)

    async def all(self) -> list[DeviceCredential]:
        return await self._store.list_credentials()

    async def _existing(self, device_id: str) -> DeviceCredential:
        credential = await self._store.get_credential(device_id)
        if credential is None:
            raise NotFound(f"{device_id} is not provisioned",
                           code=ErrorCode.DEVICE_NOT_PROVISIONED, device=device_id)
        return credential

    async def _hash(self, password: str) -> str:
        # Tens of milliseconds of PBKDF2: not on the event loop that runs ingest.
        return await asyncio.to_thread(hash_mqtt_password, password, iterations=self._iterations)

    def _tell(self, credential: DeviceCredential) -> None:
        for listener in self._listeners:
            try:
                listener(credential)
            except Exception:
                logger.exception("credential listener failed")


def _new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


# -- the controller's view -----------------------------------------------------------------------

Monotonic = Callable[[], float]


class DeviceIdentities:
    """Which devices may speak, and as what: the ingest pipeline's and the signer's lookup.

    ``auto_register`` (the tests' default, off in production) lets a device nobody provisioned
    register by its first birth, as before provisioning existed; a revoked device is refused
    either way. Lookups are synchronous over a cache; ``prepare`` fills it for the devices of a
    batch before the batch is parsed, and ``reload`` (a job) adopts changes made elsewhere
    (``hall devices revoke`` in another process).
    """

    def __init__(self, store: ProvisioningStore, *, auto_register: bool,
                 miss_ttl_s: float = 2.0, monotonic: Monotonic = time.monotonic) -> None:
        self._store = store
        self.auto_register = auto_register
        self._known: dict[str, DeviceCredential] = {}
        self._misses: dict[str, float] = {}
        self._miss_ttl_s = miss_ttl_s
        self._monotonic = monotonic

    def remember(self, credential: DeviceCredential) -> None:
        """A change made in this process (``ProvisioningService.subscribe``)."""
        self._known[credential.device_id] = credential
        self._misses.pop(credential.device_id, None)

    async def reload(self) -> None:
        credentials = await self._store.list_credentials()
        self._known = {c.device_id: c for c in credentials}
        self._misses.clear()

    async def prepare(self, device_ids: Iterable[str]) -> None:
        """Look up the devices of a batch the cache does not know (a miss is remembered for
        ``miss_ttl_s``, so a flood from an unknown id costs one query per interval). With the
        database away the cache decides: an unknown device stays unknown until it is back."""
        now = self._monotonic()
        wanted = [d for d in set(device_ids)
                  if d not in self._known and now - self._misses.get(d, -1e18) > self._miss_ttl_s]
        if not wanted:
            return
        try:
            found = await self._store.get_credentials(wanted)
        except HallError as exc:
            logger.warning("device credentials not looked up (%s); using what is cached", exc)
            return
        for device_id in wanted:
            credential = found.get(device_id)
            if credential is None:
                self._misses[device_id] = now
            else:
                self._known[device_id] = credential
        if len(self._misses) > 10_000:  # an id-spraying client must not grow memory for ever
            self._misses = {d: t for d, t in self._misses.items()
                            if now - t <= self._miss_ttl_s}

    def credential(self, device_id: str) -> DeviceCredential | None:
        return self._known.get(device_id)

    def refusal(self, device_id: str) -> str | None:
        """Why this device's messages are refused (``unknown_device``, ``revoked_device``),
        or None when it may speak."""
        credential = self._known.get(device_id)
        if credential is None:
            return None if self.auto_register else UNKNOWN_DEVICE
        return None if credential.active else REVOKED_DEVICE

    def provisioned_kind(self, device_id: str) -> DeviceKind | None:
        """The kind an admin fixed, which a birth must claim; None when not provisioned."""
        credential = self._known.get(device_id)
        return credential.kind if credential is not None and credential.active else None

    def is_provisioned(self, device_id: str) -> bool:
        credential = self._known.get(device_id)
        return credential is not None and credential.active

    def key_for(self, device_id: str) -> bytes | None:
        """The device's own command key; None when it has none (not provisioned, revoked)."""
        credential = self._known.get(device_id)
        return credential.command_key if credential is not None and credential.active else None


class CommandKeys:
    """The key that signs what goes to one device (door commands, and its ``access.sync``):
    its provisioned key; a key derived from the master secret only for a device nobody
    provisioned while ``auto_register`` admits such devices (the tests, and agents set up
    before provisioning existed). None: no key, nothing is signed for it."""

    def __init__(self, identities: DeviceIdentities | None, master_secret: bytes | None) -> None:
        self._identities = identities
        self._master_secret = master_secret

    def key_for(self, device_id: str) -> bytes | None:
        identities = self._identities
        if identities is not None:
            key = identities.key_for(device_id)
            if key is not None:
                return key
            if identities.credential(device_id) is not None or not identities.auto_register:
                return None  # revoked, or a stranger no one admits
        if self._master_secret is None:
            return None
        return derive_device_key(self._master_secret, device_id)

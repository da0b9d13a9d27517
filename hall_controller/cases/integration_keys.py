"""API keys for integration clients (the online service platform).

A key reads ``hk_<key_id>_<secret>``: the key id finds the record, the secret proves
possession. Only a SHA-256 of the secret is stored. A slow password hash (argon2) buys nothing
here: the secret is 256 random bits, not something a person chose, so it cannot be guessed
from its hash, and a fast hash keeps every integration request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from devices.contract import now_ms
from hall_controller.cases.ports import ApiKeyStore
from hall_controller.cases.rules import ApiKey, Scope

logger = logging.getLogger(__name__)

KEY_PREFIX = "hk_"
_KEY = re.compile(r"^hk_([a-z0-9]{12})_([A-Za-z0-9_-]{20,128})$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    plaintext: str   # shown once, at creation; not stored


class ApiKeyService:
    def __init__(self, store: ApiKeyStore, *, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._clock = clock

    async def create(self, name: str, scopes: Iterable[Scope], created_by: str) -> IssuedKey:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id=key_id, name=name, secret_hash=_hash(secret),
                     scopes=frozenset(scopes), created_ms=self._clock(), created_by=created_by)
        await self._store.insert_api_key(key)
        logger.info("API key %s (%s) created by %s", key_id, name, created_by,
                    extra={"key_id": key_id, "by": created_by})
        return IssuedKey(key, f"{KEY_PREFIX}{key_id}_{secret}")

    async def list_keys(self) -> list[ApiKey]:
        return await self._store.list_api_keys()

    async def revoke(self, key_id: str, by: str) -> ApiKey:
        """Raises NotFound. Takes effect on the next request made with the key."""
        key = await self._store.revoke_api_key(key_id, self._clock())
        logger.info("API key %s revoked by %s", key_id, by, extra={"key_id": key_id, "by": by})
        return key

    async def resolve(self, presented: str) -> ApiKey | None:
        """The active key ``presented`` is, or None (malformed, unknown, wrong or revoked)."""
        match = _KEY.match(presented.strip())
        if match is None:
            return None
        key = await self._store.get_api_key(match[1])
        # Compare in constant time, so response timing does not reveal a prefix of the hash.
        if key is None or not hmac.compare_digest(key.secret_hash, _hash(match[2])):
            return None
        return key if key.active else None

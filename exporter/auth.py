"""API tokens and who may do what (docs/api.md, roles and authentication)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Final

from exporter.model import ORGANIZATION_READER_ROLES, SITE_READER_ROLES, WRITER_ROLES

TOKEN_PREFIX: Final = "um"  # noqa: S105  (a prefix, not a secret)
_ID_BYTES: Final = 8
_SECRET_BYTES: Final = 24  # 192 random bits


@dataclasses.dataclass(frozen=True, slots=True)
class NewToken:
    """A freshly made token: ``text`` is shown once, only ``secret_sha256`` is stored."""

    id: str
    text: str
    secret_sha256: str


def new_token() -> NewToken:
    """A token ``um_<id>_<secret>`` with 192 random bits of secret."""
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return NewToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    """SHA-256 of the secret, hex: what the store keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(text: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else ``None``."""
    prefix, _, rest = text.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or len(token_id) != 2 * _ID_BYTES or not secret:
        return None
    return token_id, secret


def secret_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_sha256)


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request and the roles that decide what it may do."""

    user_id: str
    site_roles: frozenset[str]
    organization_roles: Mapping[str, frozenset[str]]

    @property
    def reads_everything(self) -> bool:
        """Site admins, managers and auditors read the report for every organization."""
        return bool(self.site_roles & SITE_READER_ROLES)

    def reads_organization(self, organization_id: str) -> bool:
        """Site readers, and admins or managers of this organization."""
        roles = self.organization_roles.get(organization_id, frozenset())
        return self.reads_everything or bool(roles & ORGANIZATION_READER_ROLES)

    @property
    def readable_organizations(self) -> frozenset[str]:
        """Organizations this principal administers or manages (site readers read all)."""
        return frozenset(
            org
            for org, roles in self.organization_roles.items()
            if roles & ORGANIZATION_READER_ROLES
        )

    @property
    def writes(self) -> bool:
        """Site admins and activity writers write activity and the directory."""
        return bool(self.site_roles & WRITER_ROLES)

    @property
    def is_site_admin(self) -> bool:
        """Only a site admin may grant ``site-admin`` or ``activity-writer``."""
        return "site-admin" in self.site_roles

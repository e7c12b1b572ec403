"""Ports: what services need from storage, as Protocols the store implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from medwarden.audit.model import AuditEvent, EventDraft
from medwarden.auth.model import (
    ApiToken,
    NewToken,
    NewUser,
    TokenCredentials,
    User,
    UserCredentials,
)
from medwarden.intel.cvss import SeverityRating
from medwarden.intel.model import Advisory, EpssScore, KevEntry
from medwarden.matching.base import AdvisoryIndex
from medwarden.portfolio.identity import ComponentIdentity
from medwarden.portfolio.support import ComponentSupport

__all__ = [
    "AuditLog",
    "AuthStore",
    "Evaluation",
    "IntelStore",
    "MatchRecord",
    "PendingChanges",
    "RevisionDraft",
    "RevisionEntry",
    "SourceStatus",
    "StoredComponent",
    "UpsertCounts",
]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What a bulk upsert did: new rows, replaced (newer) rows, ignored (same or older)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Per source: how many records, when last updated, and the sync cursor."""

    source: str
    records: int
    withdrawn: int
    last_loaded_at: datetime | None
    newest_modified: datetime | None
    cursor: str | None = None


class IntelStore(AdvisoryIndex, Protocol):
    """The mirror of vulnerability intelligence: bulk writes plus the matching index."""

    def upsert_advisories(self, advisories: Sequence[Advisory]) -> UpsertCounts:
        """Insert new records, replace older copies, ignore same-or-older ones; one transaction."""
        ...

    def opener(self) -> Callable[[], IntelStore]:
        """A picklable callable that opens this same store in another process.

        Parallel loads call it once in each worker process, which then parses and writes
        its own units (the store serialises concurrent writers)."""
        ...

    def upsert_kev(self, entries: Sequence[KevEntry]) -> UpsertCounts:
        """Insert or replace KEV catalog entries."""
        ...

    def upsert_epss(self, scores: Sequence[EpssScore]) -> UpsertCounts:
        """Insert or replace EPSS scores (a later score date replaces an earlier one)."""
        ...

    def set_cursor(self, source: str, cursor: str, at: datetime) -> None:
        """Remember how far an incremental sync of ``source`` got."""
        ...

    def status(self) -> list[SourceStatus]:
        """Counts and freshness per source."""
        ...


class AuditLog(Protocol):
    """The append-only audit trail: events can be appended and read, never changed.

    Implementations assign ``seq`` and ``prev_hash`` inside the write transaction, so
    concurrent writers (threads or processes) never fork the chain."""

    def append(self, draft: EventDraft) -> AuditEvent:
        """Seal ``draft`` as the next event of the chain, store it, and return it."""
        ...

    def events(self, after_seq: int = 0) -> Iterator[AuditEvent]:
        """Yield the stored events with ``seq > after_seq`` in ``seq`` order, streaming."""
        ...

    def head(self) -> tuple[int, str]:
        """The last event's ``(seq, hash)``; ``(0, GENESIS)`` when the trail is empty."""
        ...


# -- the portfolio ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What matching found for one component identity and one vulnerability, encoded.

    ``payload`` is the evidence as compact JSON; ``digest`` changes whenever it does;
    ``ids`` are every id behind the match (record ids and aliases)."""

    vulnerability_id: str
    cve_id: str | None
    severity: SeverityRating
    discovery_source: str
    digest: str
    payload: bytes
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The matching result of one component identity: its matches and skip reasons."""

    matches: tuple[MatchRecord, ...] = ()
    skipped: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RevisionEntry:
    """One component of an SBOM revision: its ref, identity, supplier and support record."""

    ref: str
    identity: ComponentIdentity
    supplier: str | None = None
    support: ComponentSupport | None = None


@dataclass(frozen=True, slots=True)
class RevisionDraft:
    """An SBOM revision to store: the document as received plus what was read from it."""

    document: bytes
    media_type: str
    format: str
    spec_version: str
    digest: str
    entries: tuple[RevisionEntry, ...]
    serial_number: str | None = None
    document_timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredComponent:
    """A stored component identity (its primary key and the fields matching reads)."""

    pk: int
    name: str
    version: str | None
    group: str | None
    purl: str | None
    cpes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PendingChanges:
    """Intelligence changed since the last re-evaluation, and the identities it may affect."""

    advisory_cursor: int
    advisory_top: int
    kev_cursor: int
    kev_top: int
    components: tuple[StoredComponent, ...]

    @property
    def empty(self) -> bool:
        """Whether there is nothing to re-evaluate."""
        return self.advisory_top <= self.advisory_cursor and self.kev_top <= self.kev_cursor


# -- authentication ---------------------------------------------------------------------


class AuthStore(Protocol):
    """Users and API tokens; every change is audited in its own transaction.

    Nothing is cached: every read sees what other processes committed."""

    def add_user(self, user: NewUser, *, actor: str) -> User:
        """Store a new user (ConflictError if the name is taken, NotFoundError for a product)."""
        ...

    def user(self, name: str) -> User | None:
        """The user called ``name``, or ``None``."""
        ...

    def user_credentials(self, name: str) -> UserCredentials | None:
        """The user called ``name`` with its password hash, or ``None``."""
        ...

    def users(self, *, after: str | None = None, limit: int | None = None) -> list[User]:
        """Users in name order after ``after``, at most ``limit``."""
        ...

    def set_password_hash(
        self,
        name: str,
        password_hash: str | None,
        *,
        actor: str,
        at: datetime,
        action: str = "auth.password_set",
    ) -> None:
        """Replace the user's password hash; audited as ``action``."""
        ...

    def set_disabled(self, name: str, disabled: bool, *, actor: str, at: datetime) -> User:
        """Disable or enable a user."""
        ...

    def add_token(self, token: NewToken, *, actor: str) -> ApiToken:
        """Store a new token (the digest of its secret, never the secret)."""
        ...

    def token(self, token_id: str) -> ApiToken | None:
        """The token with public id ``token_id``, or ``None``."""
        ...

    def token_credentials(self, token_id: str) -> TokenCredentials | None:
        """The token, its secret's digest and its owner, or ``None``."""
        ...

    def tokens(
        self,
        *,
        owner: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
    ) -> list[ApiToken]:
        """Tokens (of ``owner`` or everyone's) in (created_at, token_id) order after ``after``."""
        ...

    def revoke_token(self, token_id: str, *, actor: str, at: datetime) -> ApiToken:
        """Revoke a token (idempotent)."""
        ...

    def touch_token(self, token_id: str, at: datetime, *, not_since: datetime) -> None:
        """Record that the token was used at ``at`` (unless recorded since ``not_since``)."""
        ...

"""One exception tree for medwarden, with stable codes.

Every error raised on purpose by medwarden derives from :class:`MedwardenError`.
Each class has a stable ``code`` (documented in ``docs/errors.md``, never reused)
and a :meth:`MedwardenError.diagnostics` text that tells a person what went
wrong, where, and what to do about it.  Entry points map the tree to exit codes
(CLI) or problem responses (API) in exactly one place each.

    MedwardenError                     MW000
    ├── UsageError                     MW001  bad option or argument
    │   ├── NotFoundError              MW003  no such record
    │   ├── ConflictError              MW004  contradicts what is stored
    │   └── RuleViolationError         MW005  a domain rule refuses the change
    ├── ConfigError                    MW002  settings cannot be used
    ├── InputError                     MW100  a document cannot be used
    │   ├── InputTooLargeError         MW101  over the size limit
    │   ├── SbomError                  MW110  an SBOM cannot be read
    │   │   ├── SbomFormatError        MW111  format or version not recognised
    │   │   ├── SbomParseError         MW112  not well-formed JSON/XML/tag-value
    │   │   └── SbomSchemaError        MW113  violates its schema (strict mode)
    │   ├── IntelSourceError           MW120  vulnerability intelligence unusable
    │   │   ├── IntelParseError        MW121  a record or file is malformed
    │   │   └── IntelFetchError        MW122  a feed could not be fetched
    │   └── VexError                   MW130  a VEX document cannot be read
    ├── MatchError                     MW200  matching could not be performed
    ├── StoreError                     MW300  the local store failed
    │   └── StoreSchemaError           MW301  the store needs a migration
    ├── VerificationError              MW400  an integrity check failed
    │   ├── SignatureError             MW401  a device signature does not verify
    │   └── ChainError                 MW402  a record replays or breaks its device's chain
    ├── AccessError                    MW500  authentication or authorisation failed
    │   ├── AuthenticationError        MW501  no, unknown, expired or revoked credentials
    │   └── PermissionDeniedError      MW502  role or product permission missing
    └── ControllerRunError             MW600  a controller runner failed (crash, protocol)
        └── ControllerTimeoutError     MW601  a controller did not answer in time
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AccessError",
    "AuthenticationError",
    "ChainError",
    "ConfigError",
    "ConflictError",
    "ControllerRunError",
    "ControllerTimeoutError",
    "InputError",
    "InputTooLargeError",
    "IntelFetchError",
    "IntelParseError",
    "IntelSourceError",
    "Location",
    "MatchError",
    "MedwardenError",
    "NotFoundError",
    "PermissionDeniedError",
    "RuleViolationError",
    "SbomError",
    "SbomFormatError",
    "SbomParseError",
    "SbomSchemaError",
    "SignatureError",
    "StoreError",
    "StoreSchemaError",
    "UsageError",
    "VerificationError",
    "VexError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in an input a problem was found: a file, a JSON pointer and/or a line."""

    source: str | None = None
    pointer: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source:
            parts.append(self.source)
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        if self.pointer is not None:
            parts.append(f"at {self.pointer or '/'}")
        return ": ".join(parts[:1]) + (" " + ", ".join(parts[1:]) if len(parts) > 1 else "")


class MedwardenError(Exception):
    """Root of every error medwarden raises on purpose."""

    code = "MW000"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        details: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.details = details

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with location, hint and details (errors cross worker processes)."""
        return (_rebuild, (type(self), self.message, self.location, self.hint, self.details))

    def diagnostics(self) -> str:
        """Return a multi-line text for people: code, message, location, details, hint."""
        lines = [f"[{self.code}] {self.message}"]
        if self.location is not None:
            lines.append(f"  where: {self.location}")
        lines.extend(f"  - {d}" for d in self.details)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def _rebuild(
    cls: type[MedwardenError],
    message: str,
    location: Location | None,
    hint: str | None,
    details: tuple[str, ...],
) -> MedwardenError:
    return cls(message, location=location, hint=hint, details=details)


class UsageError(MedwardenError):
    """An option or argument is not acceptable."""

    code = "MW001"


class NotFoundError(UsageError):
    """A named record (product, release, finding, user, token) does not exist."""

    code = "MW003"


class ConflictError(UsageError):
    """The request contradicts what is stored (a duplicate name, a stale state)."""

    code = "MW004"


class RuleViolationError(UsageError):
    """A domain rule refuses the change (a KEV finding closed without an assessment)."""

    code = "MW005"


class ConfigError(MedwardenError):
    """Settings cannot be used (unknown key, bad database URL, placeholder secret)."""

    code = "MW002"


class InputError(MedwardenError):
    """A document given to medwarden cannot be used."""

    code = "MW100"


class InputTooLargeError(InputError):
    """A document exceeds the configured size limit; it was not read."""

    code = "MW101"


class SbomError(InputError):
    """An SBOM cannot be read."""

    code = "MW110"


class SbomFormatError(SbomError):
    """The SBOM's format or specification version is not recognised."""

    code = "MW111"


class SbomParseError(SbomError):
    """The SBOM is not well-formed (JSON, XML or SPDX tag-value syntax)."""

    code = "MW112"


class SbomSchemaError(SbomError):
    """The SBOM violates its official schema and strict mode was asked for."""

    code = "MW113"


class IntelSourceError(InputError):
    """Vulnerability intelligence cannot be used."""

    code = "MW120"


class IntelParseError(IntelSourceError):
    """An intelligence record or file is malformed."""

    code = "MW121"


class IntelFetchError(IntelSourceError):
    """An intelligence feed could not be fetched (network, HTTP status, rate limit)."""

    code = "MW122"


class VexError(InputError):
    """A VEX document cannot be read."""

    code = "MW130"


class MatchError(MedwardenError):
    """Matching could not be performed."""

    code = "MW200"


class StoreError(MedwardenError):
    """The local store failed."""

    code = "MW300"


class StoreSchemaError(StoreError):
    """The store's schema is older or newer than this medwarden; run the migration."""

    code = "MW301"


class VerificationError(MedwardenError):
    """An integrity check (hash chain, signature, proof) failed."""

    code = "MW400"


class SignatureError(VerificationError):
    """A signed device record does not verify (bad signature, wrong key, altered bytes)."""

    code = "MW401"


class ChainError(VerificationError):
    """A device record replays an earlier one or does not link to its chain."""

    code = "MW402"


class AccessError(MedwardenError):
    """Authentication or authorisation failed."""

    code = "MW500"


class AuthenticationError(AccessError):
    """No credentials, or unknown, expired or revoked ones (HTTP 401)."""

    code = "MW501"


class PermissionDeniedError(AccessError):
    """Valid credentials that lack the role or product permission asked for (HTTP 403)."""

    code = "MW502"


class ControllerRunError(MedwardenError):
    """A controller runner failed: crash, protocol violation or closed runner."""

    code = "MW600"


class ControllerTimeoutError(ControllerRunError):
    """A controller did not answer within its time limit (the child was killed)."""

    code = "MW601"

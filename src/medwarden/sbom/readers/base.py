"""The reader seam: one :class:`SbomReader` per document format."""

from __future__ import annotations

from typing import Protocol

from medwarden.sbom.model import SbomFormat, SbomReadResult

__all__ = ["SbomReader"]


class SbomReader(Protocol):
    """Turns the bytes of one document format into the normalised SBOM model.

    Implementations raise only :class:`medwarden.errors.SbomError` subclasses:
    ``SbomParseError`` for input that is not well-formed or has nothing usable,
    ``SbomFormatError`` for an unsupported specification version and, when
    ``strict`` is true, ``SbomSchemaError`` for schema violations.
    """

    @property
    def format(self) -> SbomFormat:
        """The document format this reader handles."""
        ...

    def read(self, data: bytes, *, source: str | None, strict: bool) -> SbomReadResult:
        """Read ``data``; schema violations become issues unless ``strict`` is true."""
        ...

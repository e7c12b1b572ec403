"""SPDX 2.2/2.3 JSON reader (https://spdx.github.io/spdx-spec/v2.3/)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medwarden.errors import Location, SbomFormatError
from medwarden.sbom.model import SbomFormat, SbomReadResult
from medwarden.sbom.readers._fields import IssueLog
from medwarden.sbom.readers._json import load_json_object
from medwarden.sbom.readers._spdx import build_spdx_sbom
from medwarden.sbom.validation import SPDX_VERSIONS, raise_if_strict, validate_spdx_json

__all__ = ["SpdxJsonReader", "spdx_version"]


def spdx_version(value: Any, source: str | None, *, line: int | None = None) -> str:
    """Return ``2.2`` or ``2.3`` from an ``SPDX-2.x`` version string, or raise."""
    version = value.removeprefix("SPDX-") if isinstance(value, str) else None
    if version not in SPDX_VERSIONS:
        raise SbomFormatError(
            f"SPDX version {value!r} is not supported",
            location=Location(source=source, pointer=None if line else "/spdxVersion", line=line),
            hint=f"supported versions: {', '.join('SPDX-' + v for v in SPDX_VERSIONS)}",
        )
    return str(version)


def _version_of(document: Mapping[str, Any], source: str | None) -> str:
    return spdx_version(document.get("spdxVersion"), source)


class SpdxJsonReader:
    """Reads SPDX 2.2 and 2.3 JSON documents."""

    format = SbomFormat.SPDX_JSON

    def read(self, data: bytes, *, source: str | None, strict: bool) -> SbomReadResult:
        """Parse, validate against the SPDX 2.3 JSON schema, and normalise ``data``."""
        document = load_json_object(data, source)
        version = _version_of(document, source)
        issues = validate_spdx_json(document)
        raise_if_strict(issues, strict=strict, source=source, schema="SPDX 2.3 JSON")
        log = IssueLog()
        sbom = build_spdx_sbom(
            document, sbom_format=self.format, spec_version=version, source=source, log=log
        )
        return SbomReadResult(sbom, (*issues, *log.issues))

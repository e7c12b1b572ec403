"""CycloneDX 1.2 to 1.6 JSON reader (https://cyclonedx.org/docs/1.6/json/)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medwarden.errors import Location, SbomFormatError
from medwarden.sbom.model import SbomFormat, SbomReadResult
from medwarden.sbom.readers._cyclonedx import build_cyclonedx_sbom
from medwarden.sbom.readers._fields import IssueLog
from medwarden.sbom.readers._json import load_json_object
from medwarden.sbom.validation import (
    CYCLONEDX_VERSIONS,
    raise_if_strict,
    validate_cyclonedx_json,
)

__all__ = ["CycloneDxJsonReader", "cyclonedx_json_version"]


def cyclonedx_json_version(document: Mapping[str, Any], source: str | None) -> str:
    """Return the supported ``specVersion`` of a CycloneDX JSON document or raise."""
    if document.get("bomFormat") != "CycloneDX":
        raise SbomFormatError(
            "not a CycloneDX JSON document (bomFormat is not 'CycloneDX')",
            location=Location(source=source, pointer="/bomFormat"),
        )
    version = document.get("specVersion")
    if version not in CYCLONEDX_VERSIONS:
        raise SbomFormatError(
            f"CycloneDX specVersion {version!r} is not supported",
            location=Location(source=source, pointer="/specVersion"),
            hint=f"supported versions: {', '.join(CYCLONEDX_VERSIONS)}",
        )
    return str(version)


class CycloneDxJsonReader:
    """Reads CycloneDX JSON documents of specification versions 1.2 to 1.6."""

    format = SbomFormat.CYCLONEDX_JSON

    def read(self, data: bytes, *, source: str | None, strict: bool) -> SbomReadResult:
        """Parse, validate against the official schema, and normalise ``data``."""
        document = load_json_object(data, source)
        version = cyclonedx_json_version(document, source)
        issues = validate_cyclonedx_json(document, version)
        raise_if_strict(issues, strict=strict, source=source, schema=f"CycloneDX {version} JSON")
        log = IssueLog()
        sbom = build_cyclonedx_sbom(
            document,
            sbom_format=self.format,
            spec_version=version,
            source=source,
            log=log,
        )
        return SbomReadResult(sbom, (*issues, *log.issues))

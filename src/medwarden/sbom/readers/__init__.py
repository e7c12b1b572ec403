"""SBOM readers, one per document format, in an explicit registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from medwarden.sbom.model import SbomFormat
from medwarden.sbom.readers.base import SbomReader
from medwarden.sbom.readers.cyclonedx_json import CycloneDxJsonReader
from medwarden.sbom.readers.cyclonedx_xml import CycloneDxXmlReader
from medwarden.sbom.readers.spdx_json import SpdxJsonReader
from medwarden.sbom.readers.spdx_tag_value import SpdxTagValueReader

__all__ = [
    "READERS",
    "CycloneDxJsonReader",
    "CycloneDxXmlReader",
    "SbomReader",
    "SpdxJsonReader",
    "SpdxTagValueReader",
    "create_registry",
]


def create_registry(readers: Iterable[SbomReader]) -> Mapping[SbomFormat, SbomReader]:
    """Map each reader's format to it; two readers for one format is a programming error."""
    registry: dict[SbomFormat, SbomReader] = {}
    for reader in readers:
        if reader.format in registry:
            raise ValueError(f"two SBOM readers registered for {reader.format}")
        registry[reader.format] = reader
    return MappingProxyType(registry)


READERS: Mapping[SbomFormat, SbomReader] = create_registry(
    [CycloneDxJsonReader(), CycloneDxXmlReader(), SpdxJsonReader(), SpdxTagValueReader()]
)
"""The readers medwarden uses, by format."""

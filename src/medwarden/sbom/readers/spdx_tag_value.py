"""SPDX 2.2/2.3 tag-value reader (https://spdx.github.io/spdx-spec/v2.3/).

Lines of ``Tag: value`` (values may span lines inside ``<text>...</text>``) are
turned into the SPDX JSON document shape, validated against the SPDX 2.3 JSON
schema (issue pointers name that JSON equivalent, with the tag-value line of the
package where there is one) and normalised by the shared SPDX mapping.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from medwarden.errors import Location, SbomParseError
from medwarden.sbom.model import SbomFormat, SbomReadResult, ValidationIssue
from medwarden.sbom.readers._fields import IssueLog
from medwarden.sbom.readers._spdx import build_spdx_sbom
from medwarden.sbom.readers.spdx_json import spdx_version
from medwarden.sbom.validation import raise_if_strict, validate_spdx_json

__all__ = ["SpdxTagValueReader", "parse_tag_value"]

_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):\s?(.*)$")
_PACKAGE_FIELDS = {
    "PackageVersion": "versionInfo",
    "PackageSupplier": "supplier",
    "PackageOriginator": "originator",
    "PackageDownloadLocation": "downloadLocation",
    "PackageLicenseConcluded": "licenseConcluded",
    "PackageLicenseDeclared": "licenseDeclared",
    "PackageCopyrightText": "copyrightText",
    "PrimaryPackagePurpose": "primaryPackagePurpose",
    "PackageFileName": "packageFileName",
    "PackageHomePage": "homepage",
    "ValidUntilDate": "validUntilDate",
}
_DOCUMENT_FIELDS = {
    "DataLicense": "dataLicense",
    "DocumentName": "name",
    "DocumentNamespace": "documentNamespace",
}
_SECTION_STARTS = {"FileName": "file", "SnippetSPDXID": "snippet", "LicenseID": "license"}


@dataclass(slots=True)
class _TagValueDocument:
    shape: dict[str, Any] = field(default_factory=lambda: {"creationInfo": {"creators": []}})
    section: str = "document"
    package_lines: list[int] = field(default_factory=list)


def _lines(text: str, source: str | None) -> Iterator[tuple[int, str, str]]:
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line_no, line = index + 1, lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        match = _TAG.match(line)
        if match is None:
            raise SbomParseError(
                "not an SPDX 'Tag: value' line", location=Location(source=source, line=line_no)
            )
        tag, value = match.groups()
        if value.lstrip().startswith("<text>"):
            value, index = _multiline(lines, index, value.lstrip(), line_no, source)
        yield line_no, tag, value.strip()


def _multiline(
    lines: list[str], index: int, first: str, line_no: int, source: str | None
) -> tuple[str, int]:
    parts = [first.removeprefix("<text>")]
    while "</text>" not in parts[-1]:
        if index >= len(lines):
            raise SbomParseError(
                "<text> is never closed", location=Location(source=source, line=line_no)
            )
        parts.append(lines[index])
        index += 1
    return "\n".join(parts).split("</text>", 1)[0], index


def _relationship(value: str, line: int, log: IssueLog) -> dict[str, str] | None:
    words = value.split()
    if len(words) != 3:
        log.error(f"relationship {value!r} is not 'A TYPE B'; ignored", line=line)
        return None
    left, kind, right = words
    return {"spdxElementId": left, "relationshipType": kind, "relatedSpdxElement": right}


def _package_field(package: dict[str, Any], tag: str, value: str) -> None:
    if tag in _PACKAGE_FIELDS:
        package[_PACKAGE_FIELDS[tag]] = value
    elif tag == "SPDXID":
        package["SPDXID"] = value
    elif tag == "FilesAnalyzed":
        package["filesAnalyzed"] = value.lower() == "true"
    elif tag == "PackageChecksum":
        algorithm, _, digest = value.partition(":")
        package.setdefault("checksums", []).append(
            {"algorithm": algorithm.strip(), "checksumValue": digest.strip()}
        )
    elif tag == "ExternalRef":
        category, kind, locator = ([*value.split(None, 2), "", "", ""])[:3]
        package.setdefault("externalRefs", []).append(
            {"referenceCategory": category, "referenceType": kind, "referenceLocator": locator}
        )


def _document_field(shape: dict[str, Any], tag: str, value: str) -> None:
    if tag in _DOCUMENT_FIELDS:
        shape[_DOCUMENT_FIELDS[tag]] = value
    elif tag == "SPDXVersion":
        shape["spdxVersion"] = value
    elif tag == "SPDXID":
        shape["SPDXID"] = value
    elif tag == "Creator":
        shape["creationInfo"]["creators"].append(value)
    elif tag == "Created":
        shape["creationInfo"]["created"] = value


def _accept(doc: _TagValueDocument, line: int, tag: str, value: str, log: IssueLog) -> None:
    if tag == "PackageName":
        doc.section = "package"
        doc.shape.setdefault("packages", []).append({"name": value})
        doc.package_lines.append(line)
    elif tag in _SECTION_STARTS:
        doc.section = _SECTION_STARTS[tag]
    elif tag == "Relationship":
        relationship = _relationship(value, line, log)
        if relationship is not None:
            doc.shape.setdefault("relationships", []).append(relationship)
    elif doc.section == "package":
        _package_field(doc.shape["packages"][-1], tag, value)
    elif doc.section == "document":
        _document_field(doc.shape, tag, value)


def parse_tag_value(data: bytes, source: str | None, log: IssueLog) -> _TagValueDocument:
    """Parse SPDX tag-value bytes into the SPDX JSON document shape."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SbomParseError(
            f"SPDX tag-value must be UTF-8: {exc.reason} at byte {exc.start}",
            location=Location(source=source),
        ) from exc
    if not text.strip():
        raise SbomParseError("the document is empty", location=Location(source=source))
    doc = _TagValueDocument()
    for line, tag, value in _lines(text, source):
        _accept(doc, line, tag, value, log)
    return doc


def _with_lines(
    issues: tuple[ValidationIssue, ...], doc: _TagValueDocument
) -> list[ValidationIssue]:
    located = []
    for issue in issues:
        parts = (issue.pointer or "").split("/")
        if len(parts) > 2 and parts[1] == "packages" and parts[2].isdigit():
            index = int(parts[2])
            if index < len(doc.package_lines):
                issue = dataclasses.replace(issue, line=doc.package_lines[index])
        located.append(issue)
    return located


class SpdxTagValueReader:
    """Reads SPDX 2.2 and 2.3 tag-value documents."""

    format = SbomFormat.SPDX_TAG_VALUE

    def read(self, data: bytes, *, source: str | None, strict: bool) -> SbomReadResult:
        """Parse the tag-value lines, validate their JSON equivalent, and normalise."""
        log = IssueLog()
        doc = parse_tag_value(data, source, log)
        version = spdx_version(doc.shape.get("spdxVersion"), source, line=1)
        issues = _with_lines(validate_spdx_json(doc.shape), doc)
        raise_if_strict(
            issues,
            strict=strict,
            source=source,
            schema="SPDX 2.3 JSON (applied to its JSON equivalent)",
        )
        sbom = build_spdx_sbom(
            doc.shape, sbom_format=self.format, spec_version=version, source=source, log=log
        )
        return SbomReadResult(sbom, (*issues, *log.issues))

"""Where SBOMs carry a component's support record (REQUIREMENTS 3): names and encodings.

FDA's premarket cybersecurity guidance (V.A.4(b)) asks, per component, for its level of
support and end-of-support date.  CycloneDX has no field for either and SPDX 2.3 only
``validUntilDate``, so tools write them as component properties under many spellings
(``levelOfSupport``, ``level_of_support``, ``medwarden:level-of-support``,
``fda:endOfSupport``, ``eol`` ...).  :func:`support_field` recognises all of them: only the
last segment after ``:`` counts, compared without case and separators.

medwarden itself writes one spelling (:attr:`SupportField.property_name`):

* CycloneDX: the component properties ``medwarden:level_of_support``,
  ``medwarden:end_of_support`` (ISO 8601 date) and ``medwarden:support_justification``;
* SPDX 2.3 JSON: ``validUntilDate`` for the date, and for the level and the
  justification one package annotation each (``annotationType`` ``OTHER``) whose
  ``comment`` is ``medwarden:level_of_support=VALUE`` (:func:`annotation_comment`).
  The SPDX reader turns such annotations back into properties (:func:`annotation_property`),
  so an exported SBOM re-imports with the same record.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "PROPERTY_PREFIX",
    "SupportField",
    "annotation_comment",
    "annotation_property",
    "support_field",
]

PROPERTY_PREFIX = "medwarden:"
"""The namespace of the properties (and SPDX annotation comments) medwarden writes."""

_SQUASH = re.compile(r"[^a-z0-9]")


class SupportField(StrEnum):
    """The three parts of a support record; values are medwarden's own property suffixes."""

    LEVEL = "level_of_support"
    END_OF_SUPPORT = "end_of_support"
    JUSTIFICATION = "support_justification"

    @property
    def property_name(self) -> str:
        """The property name medwarden writes, e.g. ``medwarden:level_of_support``."""
        return f"{PROPERTY_PREFIX}{self.value}"


_SPELLINGS: dict[str, SupportField] = {
    "levelofsupport": SupportField.LEVEL,
    "supportlevel": SupportField.LEVEL,
    "endofsupport": SupportField.END_OF_SUPPORT,
    "endofsupportdate": SupportField.END_OF_SUPPORT,
    "eos": SupportField.END_OF_SUPPORT,
    "eol": SupportField.END_OF_SUPPORT,
    "validuntildate": SupportField.END_OF_SUPPORT,
    "supportjustification": SupportField.JUSTIFICATION,
    "endofsupportjustification": SupportField.JUSTIFICATION,
}
_OWN_NAMES = {field.property_name: field for field in SupportField}


def support_field(property_name: str) -> SupportField | None:
    """Which part of a support record a property of this name states, if any."""
    key = _SQUASH.sub("", property_name.rsplit(":", 1)[-1].lower())
    return _SPELLINGS.get(key)


def annotation_comment(field: SupportField, value: str) -> str:
    """The comment of the SPDX annotation medwarden writes for ``field``."""
    return f"{field.property_name}={value}"


def annotation_property(comment: str) -> tuple[str, str] | None:
    """The ``(property name, value)`` an SPDX annotation comment of medwarden's carries.

    Only comments written by :func:`annotation_comment` qualify; any other comment
    (``None`` returned) is an ordinary annotation."""
    name, sep, value = comment.partition("=")
    if not sep or name not in _OWN_NAMES:
        return None
    return name, value

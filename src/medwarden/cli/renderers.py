"""The registry of scan output formats: ``--format`` choices mapped to renderers.

Each renderer is imported only when its format is chosen, so that the CycloneDX or
Rich machinery costs nothing to the other formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from medwarden.services.scan import FailThreshold, ScanReport

__all__ = ["FailOn", "OutputFormat", "RenderOptions", "render_scan", "threshold_for"]


class OutputFormat(StrEnum):
    """Output formats of ``medwarden scan``."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    CYCLONEDX = "cyclonedx"


class FailOn(StrEnum):
    """``--fail-on`` choices: a severity floor, ``kev`` for any KEV finding, or ``none``."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
    KEV = "kev"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Presentation options that only the table uses."""

    show_suppressed: bool = False
    color: bool = False
    width: int = 160


Renderer = Callable[["ScanReport", RenderOptions], str]


def _renderer(fmt: OutputFormat) -> Renderer:
    match fmt:
        case OutputFormat.TABLE:
            from medwarden.cli.render_table import render_scan_table

            return lambda report, options: render_scan_table(
                report,
                show_suppressed=options.show_suppressed,
                color=options.color,
                width=options.width,
            )
        case OutputFormat.JSON:
            from medwarden.reports.scan_json import render_json

            return lambda report, _options: render_json(report)
        case OutputFormat.SARIF:
            from medwarden.reports.scan_sarif import render_sarif

            return lambda report, _options: render_sarif(report)
        case OutputFormat.CYCLONEDX:
            from medwarden.reports.scan_cyclonedx import render_cyclonedx

            return lambda report, _options: render_cyclonedx(report)
        case _:
            assert_never(fmt)


def render_scan(report: ScanReport, fmt: OutputFormat, options: RenderOptions) -> str:
    """Render ``report`` in format ``fmt``."""
    return _renderer(fmt)(report, options)


def threshold_for(fail_on: FailOn) -> FailThreshold:
    """Return the :class:`~medwarden.services.scan.FailThreshold` of a ``--fail-on`` choice."""
    from medwarden.matching.model import SeverityRating
    from medwarden.services.scan import FailThreshold

    match fail_on:
        case FailOn.NONE:
            return FailThreshold()
        case FailOn.KEV:
            return FailThreshold(kev=True)
        case FailOn.LOW | FailOn.MEDIUM | FailOn.HIGH | FailOn.CRITICAL:
            return FailThreshold(severity=SeverityRating(fail_on.value))
        case _:
            assert_never(fail_on)

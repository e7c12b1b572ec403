"""Renderers of scan reports: stable JSON, SARIF 2.1.0 and CycloneDX 1.6 with vulnerabilities.

Each renderer is a pure function ``render(report) -> str`` over
:class:`~medwarden.services.scan.ScanReport`; the CLI maps its ``--format`` choices to
them.  Suppressed findings are always included and marked: evidence is never dropped.
"""

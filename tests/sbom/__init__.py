"""Tests of medwarden.sbom: readers, validation and the NTIA report."""

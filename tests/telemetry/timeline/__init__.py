"""Tests of timeline reconstruction and its JSON and FHIR exports."""

"""Matching SBOM components against vulnerability intelligence, with evidence."""

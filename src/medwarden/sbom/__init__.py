"""SBOM reading: CycloneDX and SPDX documents into one normalised model."""

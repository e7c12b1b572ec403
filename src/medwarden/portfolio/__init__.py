"""The portfolio: products, releases, SBOM revisions, component support, finding deltas."""

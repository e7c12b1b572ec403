"""Vulnerability intelligence: parsed records of NVD, CVE 5, OSV, KEV and EPSS."""

"""VEX: reading vulnerability-exploitability statements and applying them to findings."""

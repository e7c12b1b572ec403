"""The tamper-evident telemetry ledger: an RFC 6962 / RFC 9162 Merkle tree and its proofs."""

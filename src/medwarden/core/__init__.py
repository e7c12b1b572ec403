"""Core values shared by every layer: identifiers, clock, canonical JSON and digests."""

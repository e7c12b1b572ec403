"""medwarden: post-market cybersecurity for connected medical devices."""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""Input channels: the hardened public endpoints and the messaging-platform adapters."""

"""Speed-ups that keep the answers the same: an incremental tracker-store read (docs/performance.md)."""

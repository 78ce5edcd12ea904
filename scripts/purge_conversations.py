"""Deletes conversation events, and the turns, feedback and queue items recorded from them
(insights/schema.py), older than the retention period from the configured tracker store.

    python -m scripts.purge_conversations [--endpoints endpoints.yml] [--days N]

Without --days, the store's `retention_days` (endpoints.yml) applies. Run it daily (cron, a
Kubernetes CronJob); `make purge` runs it once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"))
    parser.add_argument("--days", type=int, default=None, help="override retention_days")
    args = parser.parse_args()

    from rasa.core.tracker_store import TrackerStore
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(args.endpoints), "tracker_store")
    store = TrackerStore.create(config)
    purge = getattr(store, "purge_older_than", None)
    if purge is None:
        print(
            f"{type(store).__name__} has no retention support: configure PrivateSQLTrackerStore",
            file=sys.stderr,
        )
        return 1
    days = args.days if args.days is not None else store.retention_days
    deleted = purge(days)
    what = "conversation events, recorded turns, feedback and queue items"
    print(f"Deleted {deleted} rows ({what}) older than {days} days.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

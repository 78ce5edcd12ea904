"""The Prometheus exporter: a small process of its own that serves the Rasa servers' metrics.

    python -m insights.exporter --endpoints var/endpoints.yml [--host 127.0.0.1] [--port 9100]

`make run` (scripts/serve.sh) and the production profile (scripts/prod.sh) start it beside the Rasa
servers; it serves http://<host>:<port>/metrics and nothing else, on loopback unless told otherwise,
never on Rasa's public port. At each scrape it
- sums what every Rasa process wrote into PROMETHEUS_MULTIPROC_DIR (insights/metrics.py), after
  forgetting the in-flight gauges of processes that are gone (prometheus_client's
  `mark_process_dead`, which a pre-fork server calls when a worker exits: Sanic has no such hook,
  so the one process that reads the files does it; counters of a finished process stay, as they
  must, until the folder is emptied at the next start);
- counts the open items of the unanswered-questions queue by reason in the conversation database
  (the endpoints file's `tracker_store`), and says whether that database answered.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from insights import schema
from insights.metrics import MULTIPROC_VARIABLE

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9100
LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def forget_dead_processes(path: str, alive: Callable[[int], bool] = process_alive) -> list[int]:
    """Removes the live gauges' files of processes that no longer run; returns their pids."""
    dead = set()
    for name in os.listdir(path):
        match = LIVE_GAUGE_FILE.match(name)
        if match and not alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        mark_process_dead(pid, path)
    return sorted(dead)


class RasaProcesses(Collector):
    """The Rasa worker processes' metrics, summed over all of them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.files = MultiProcessCollector(None, path=path)

    def collect(self) -> Iterable[Metric]:
        forget_dead_processes(self.path)
        return self.files.collect()


class OpenQueue(Collector):
    """Open items of the unanswered-questions queue by reason, read from the database at scrape time."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(schema.REASONS, 0)
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and not Path(database).exists():
            return counts  # no conversation yet: do not create the database file by connecting
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(schema.queue.name):
                return counts  # nothing recorded yet: the tracker store creates the tables
            query = (
                sa.select(schema.queue.c.reason, sa.func.count())
                .where(schema.queue.c.status == schema.OPEN)
                .group_by(schema.queue.c.reason)
            )
            for reason, count in connection.execute(query):
                counts[reason] = int(count)
        return counts

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "faq_conversation_db_up", "1 if the conversation database answered this scrape, else 0"
        )
        try:
            counts = self.counts()
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("The conversation database did not answer: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            "faq_queue_open", "Open items of the unanswered-questions queue, by reason", labels=["reason"]
        )
        for reason, count in sorted(counts.items()):
            queue.add_metric([reason], count)
        yield queue


def tracker_store_config(endpoints: Path) -> dict[str, Any] | None:
    """The endpoints file's `tracker_store`, with ${VAR}s expanded as Rasa expands them."""
    from rasa.shared.utils.io import read_config_file

    config = read_config_file(str(endpoints)).get("tracker_store")
    if not isinstance(config, dict):
        return None
    store = str(config.get("type", ""))
    # Rasa's SQL store ("sql") or a subclass named by its module path (...PrivateSQLTrackerStore).
    return config if store.lower() == "sql" or "SQL" in store.rsplit(".", 1)[-1] else None


def build_registry(path: str, engine: sa.engine.Engine | None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RasaProcesses(path))
    if engine is not None:
        registry.register(OpenQueue(engine))
    return registry


def only_metrics(app: Callable) -> Callable:
    """The WSGI app: /metrics, and 404 for any other path."""

    def routed(environ: dict[str, Any], start_response: Callable) -> Any:
        if environ.get("PATH_INFO") in ("/metrics", "/metrics/"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found. The metrics are at /metrics\n"]

    return routed


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--endpoints", type=Path, help="the Rasa servers' endpoints file (for the queue size)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--dir", default=os.environ.get(MULTIPROC_VARIABLE), help=f"default: ${MULTIPROC_VARIABLE}"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.dir or not os.path.isdir(args.dir):
        parser.error(f"--dir or {MULTIPROC_VARIABLE}: the folder the Rasa servers write their metrics to")
    config = tracker_store_config(args.endpoints) if args.endpoints else None
    engine = schema.engine_from_tracker_store(config) if config else None
    if engine is None:
        logger.warning("No SQL tracker_store in the endpoints file: no queue size (faq_queue_open).")
    registry = build_registry(args.dir, engine)

    server = make_server(
        args.host, args.port, only_metrics(make_wsgi_app(registry)), ThreadingWSGIServer, QuietHandler
    )

    def stop(signum: int, _: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logger.info("Serving the metrics at http://%s:%s/metrics", args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

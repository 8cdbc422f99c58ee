"""The `hanse` command: run the platform, a service, the broker, the SMTP sink; replay dead letters."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys

from hanse.settings import Settings, get_settings
from services import DEPARTMENTS, service_port

PROCESSES = (*DEPARTMENTS, "gateway")


def platform_topics(settings: Settings) -> list[str]:
    """Every topic the platform uses: each process's event, dead-letter and retry topic."""
    return settings.topics_for(PROCESSES)


def app_path(name: str) -> str:
    return "gateway.app:app" if name == "gateway" else f"services.{name}.app:app"


def _configure_logging(level: str = "INFO") -> None:
    """JSON lines (or console lines in dev, HANSE_LOG_FORMAT) on stderr for every logger: see hanse.logs."""
    from hanse.logs import configure_logging

    # The service is named by HANSE_SERVICE (set by `hanse serve` and the image) when a line is written.
    configure_logging(level=level)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin otherwise


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    os.environ["HANSE_SERVICE"] = args.name
    settings = get_settings()
    port = args.port or (
        settings.gateway_port if args.name == "gateway" else service_port(args.name, settings.service_port_base)
    )
    config = uvicorn.Config(
        app_path(args.name),
        host=args.host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        # uvicorn's own logging config would print its lines as plain text; without it they reach
        # the root handler that configure_logging installed, as JSON lines like every other.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
        # Explicit, and longer than the gateway's upstream pool keeps an idle connection, so the
        # gateway never sends a request on a connection this server is closing (HANSE_KEEP_ALIVE_SECONDS).
        timeout_keep_alive=settings.keep_alive_seconds,
        lifespan="on",
        # The gateway is the edge: it believes X-Forwarded-For only from proxies named in
        # FORWARDED_ALLOW_IPS (a load balancer), else any local client could pick its own address.
        proxy_headers=args.name != "gateway" or bool(os.environ.get("FORWARDED_ALLOW_IPS")),
    )
    server = uvicorn.Server(config)
    # With --reuse-port, replicas of one service bind the same port and the kernel spreads new
    # connections over them (SO_REUSEPORT), like a Kubernetes Service in front of its pods.
    server.run(sockets=[listening_socket(args.host, port, reuse_port=True)] if args.reuse_port else None)
    return 0 if server.started else 3  # 3: uvicorn's "startup failed"


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for uvicorn; with `reuse_port` other processes may bind the same port.

    Linux admits a second SO_REUSEPORT bind only from the same user, so another user's server
    cannot take a share of the connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def cmd_broker(args: argparse.Namespace) -> int:
    from ops.broker import run_embedded_broker

    settings = get_settings()
    return asyncio.run(run_embedded_broker(args.port, platform_topics(settings), settings.topic_partitions))


def cmd_smtp_sink(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ops.smtp import run_smtp_sink

    directory = Path(args.dir) if args.dir else get_settings().data_dir / "mail"
    return asyncio.run(run_smtp_sink(args.host, args.port, directory))


def cmd_topics(args: argparse.Namespace) -> int:
    from hanse.broker import ensure_topics

    settings = get_settings()
    created = asyncio.run(
        ensure_topics(settings.kafka_bootstrap_servers, platform_topics(settings), settings.topic_partitions)
    )
    print("topics created:", ", ".join(created) or "none (all existed)")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from ops.dev import run_dev

    return asyncio.run(run_dev())


def cmd_dlq(args: argparse.Namespace) -> int:
    from ops import dlq

    settings = get_settings()
    if args.action == "list":
        return asyncio.run(dlq.show(settings, args.service, limit=args.limit))
    return asyncio.run(dlq.replay(settings, args.service, limit=args.limit, dry_run=args.dry_run))


def cmd_migrate(args: argparse.Namespace) -> int:
    from ops import migrate

    if args.autogenerate:
        if args.target == "all" or not args.message:
            raise ValueError("--autogenerate needs one service and -m MESSAGE")
        path = asyncio.run(migrate.autogenerate(args.target, args.message))
        print(f"wrote {path}" if path else f"{args.target}: models and migrations agree, nothing to write")
        return 0
    for name, revision in asyncio.run(migrate.migrate(args.target)).items():
        print(f"{name}: at {revision}")
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    import json

    from gateway.contracts import asyncapi_document

    # The canonical document (topic prefix "hanse"): docs/asyncapi.json is this output.
    sys.stdout.write(json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ops.demo import run_demo

    return asyncio.run(run_demo(args.gateway))


def cmd_reconcile(args: argparse.Namespace) -> int:
    from ops.reconcile import run_reconcile

    return asyncio.run(run_reconcile(args.gateway, settle=args.settle))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hanse", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("HANSE_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one service or the gateway")
    # The name may come from HANSE_SERVICE so one container image serves every process.
    serve.add_argument(
        "name",
        choices=PROCESSES,
        nargs=None if not os.environ.get("HANSE_SERVICE") else "?",
        default=os.environ.get("HANSE_SERVICE"),
    )
    serve.add_argument("--host", default=os.environ.get("HANSE_HOST", "127.0.0.1"))
    serve.add_argument(
        "--port", type=int, default=int(os.environ["HANSE_PORT"]) if os.environ.get("HANSE_PORT") else None
    )
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other replicas of the same service (SO_REUSEPORT; hanse dev with HANSE_REPLICAS)",
    )
    serve.set_defaults(func=cmd_serve)

    broker = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (tansu)")
    broker.add_argument("--port", type=int, default=int(os.environ.get("HANSE_BROKER_PORT", "9092")))
    broker.set_defaults(func=cmd_broker)

    sink = sub.add_parser("smtp-sink", help="run the dev SMTP sink: each message becomes one .eml file")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=int(os.environ.get("HANSE_SMTP_PORT", "8025")))
    sink.add_argument("--dir", default=None, help="where the .eml files go (default $HANSE_DATA_DIR/mail)")
    sink.set_defaults(func=cmd_smtp_sink)

    topics = sub.add_parser(
        "topics", help="create every department, dead-letter and retry topic on KAFKA_BOOTSTRAP_SERVERS"
    )
    topics.set_defaults(func=cmd_topics)

    dev = sub.add_parser("dev", help="run broker, five services and gateway; restart what dies")
    dev.set_defaults(func=cmd_dev)

    dlq = sub.add_parser("dlq", help="inspect or replay a service's dead letters")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("service", choices=PROCESSES)
    dlq.add_argument("--limit", type=int, default=None)
    dlq.add_argument("--dry-run", action="store_true")
    dlq.set_defaults(func=cmd_dlq)

    migrate = sub.add_parser("migrate", help="apply a service's database migrations (or write a new one)")
    migrate.add_argument("target", nargs="?", default="all", choices=[*PROCESSES, "all"])
    migrate.add_argument("--autogenerate", action="store_true", help="write a revision for model changes")
    migrate.add_argument("-m", "--message", default=None, help="the new revision's message")
    migrate.set_defaults(func=cmd_migrate)

    asyncapi = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 event catalogue (docs/asyncapi.json)")
    asyncapi.set_defaults(func=cmd_asyncapi)

    demo = sub.add_parser("demo", help="walk the golden path against a running `make dev`")
    demo.add_argument("--gateway", default=os.environ.get("HANSE_GATEWAY_URL", "http://127.0.0.1:8000"))
    demo.set_defaults(func=cmd_demo)

    reconcile = sub.add_parser(
        "reconcile", help="check that every order has the invoices and shipments its status implies"
    )
    reconcile.add_argument("--gateway", default=os.environ.get("HANSE_GATEWAY_URL", "http://127.0.0.1:8000"))
    reconcile.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="re-check discrepancies for up to this many seconds (orders in flight)",
    )
    reconcile.set_defaults(func=cmd_reconcile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, RuntimeError) as exc:
        # Settings validation and startup refusals: one clear line, not a traceback.
        print(f"hanse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

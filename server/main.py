"""`vecdb serve`: run the gRPC server on a data directory until SIGTERM / SIGINT, then shut down gracefully.

vecdb/cli.py imports add_serve_command from here and registers the subcommand; `python -m vecdb_server` runs the
same command on its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .config import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PORT, ServerConfig


def add_serve_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `serve` on the `vecdb` command line."""
    p = subparsers.add_parser("serve", help="serve a data directory over gRPC (stop with Ctrl-C or SIGTERM)")
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help=f"data directory (default: ./{DEFAULT_DATA_DIR})")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 = any free)")
    p.add_argument("--workers", type=int, default=16, help="request threads (default: 16)")
    p.add_argument(
        "--token-file",
        help="file holding the token clients must send (also: environment variable VECDB_TOKEN); default: no auth",
    )
    p.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (needs --tls-key)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument(
        "--max-message-mb",
        type=float,
        default=DEFAULT_MAX_MESSAGE_BYTES / 2**20,
        help=f"largest request or reply in MiB (default: {DEFAULT_MAX_MESSAGE_BYTES >> 20})",
    )
    p.add_argument("--grace", type=float, default=30.0, help="seconds in-flight calls get on shutdown (default: 30)")
    p.add_argument("--read-only", action="store_true", help="serve reads only")
    p.add_argument("--no-sync", action="store_true", help="do not fsync each commit (faster, less durable)")
    p.add_argument(
        "--map-size-mb", type=float, default=None, help="initial LMDB map in MiB (it doubles on demand; default: 1024)"
    )
    p.add_argument("--max-map-size-mb", type=float, default=None, help="largest LMDB map in MiB (default: 1 TiB)")
    p.add_argument("--log-level", default="INFO", help="DEBUG logs every call (default: INFO)")
    lim = p.add_argument_group("request limits (a request over one is refused with RESOURCE_EXHAUSTED)")
    lim.add_argument(
        "--max-k", type=int, default=ServerConfig.max_k, help="largest k of a search (default: %(default)s)"
    )
    lim.add_argument(
        "--max-queries",
        type=int,
        default=ServerConfig.max_queries,
        help="queries per search call (default: %(default)s)",
    )
    lim.add_argument(
        "--max-results",
        type=int,
        default=ServerConfig.max_results,
        help="queries x k of one search call (default: %(default)s)",
    )
    lim.add_argument(
        "--max-points",
        type=int,
        default=ServerConfig.max_points,
        help="points per upsert (or atomic upsert stream), ids per get/delete (default: %(default)s)",
    )
    lim.add_argument(
        "--max-filter-depth",
        type=int,
        default=ServerConfig.max_filter_depth,
        help="nesting levels of a filter (default and maximum: %(default)s)",
    )
    lim.add_argument(
        "--max-filter-nodes",
        type=int,
        default=ServerConfig.max_filter_nodes,
        help="nodes of a filter (default: %(default)s)",
    )
    p.add_argument(
        "--backup-dir",
        help="confine Admin.Backup to this directory (paths relative to it); default: any path the server can write",
    )
    p.set_defaults(fn=cmd_serve)
    return p


def _token(args: argparse.Namespace) -> str | None:
    # Never a --token flag: a secret on the command line is visible to every user through ps.
    if args.token_file:
        with open(args.token_file) as f:
            return f.read().strip() or None
    return os.environ.get("VECDB_TOKEN") or None


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data=args.data,
        host=args.host,
        port=args.port,
        workers=args.workers,
        token=_token(args),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        max_message_bytes=int(args.max_message_mb * 2**20),
        grace=args.grace,
        read_only=args.read_only,
        sync=not args.no_sync,
        map_size=int(args.map_size_mb * 2**20) if args.map_size_mb else None,
        max_map_size=int(args.max_map_size_mb * 2**20) if args.max_map_size_mb else None,
        max_k=args.max_k,
        max_queries=args.max_queries,
        max_results=args.max_results,
        max_points=args.max_points,
        max_filter_depth=args.max_filter_depth,
        max_filter_nodes=args.max_filter_nodes,
        backup_dir=args.backup_dir,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import create_server

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = config_from_args(args)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server, port = create_server(config)
        print(f"vecdb serving {os.path.abspath(config.data)} on {config.host}:{port}", flush=True)
        while not stop.wait(0.5):  # short waits: signal handlers run promptly on the main thread
            pass
        print("vecdb: shutting down (finishing in-flight calls)", flush=True)
        server.stop(config.grace)
        print("vecdb: stopped", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vecdb_server", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_serve_command(sub)
    args = parser.parse_args(["serve", *(argv if argv is not None else sys.argv[1:])])
    from vecdb.errors import VecDBError

    try:
        return args.fn(args)
    except VecDBError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1

"""Request limits, checked on the protobuf message before anything is decoded or allocated.

Each check looks only at sizes the message already states (tensor shapes, id counts, filter nodes), so refusing a
hostile request costs nothing. A value the engine rejects by itself (k=0, k above vecdb's own maximum, more
queries than the engine takes) is left to the engine, so embedded and remote calls keep failing with the same
class and message; the limits here only narrow what the engine would accept. Over a limit: ResourceExhausted
(a filter nested too deep: InvalidArgument, as the engine reports it), naming the limit and its server option.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from vecdb.collection import MAX_K, MAX_QUERIES
from vecdb.errors import InvalidArgument, PermissionDenied, ResourceExhausted
from vecdb_client.pb import search_pb2, types_pb2

from .config import ServerConfig


def _over(what: str, value: int, limit: int, option: str, advice: str) -> ResourceExhausted:
    return ResourceExhausted(f"{what} {value:,} exceeds this server's limit of {limit:,} ({option}); {advice}")


def point_count(ids: types_pb2.PointIds) -> int:
    """Points a PointIds message names (packed integers or one entry each), without decoding them."""
    return len(ids.uint64_le) // 8 + len(ids.ids)


def check_points(n: int, config: ServerConfig, what: str = "points in one request") -> None:
    if n > config.max_points:
        raise _over(what, n, config.max_points, "--max-points", "send them in several calls")


def query_count(request: search_pb2.SearchRequest) -> int:
    shape = request.dense.shape if request.WhichOneof("queries") == "dense" else ()
    return int(shape[0]) if len(shape) == 2 else 1


def check_search(request: search_pb2.SearchRequest, config: ServerConfig) -> None:
    k = request.k
    if 1 <= k <= MAX_K and k > config.max_k:
        raise _over("k", k, config.max_k, "--max-k", "ask for fewer results")
    nq = query_count(request)
    if nq <= MAX_QUERIES and nq > config.max_queries:
        raise _over("queries in one call", nq, config.max_queries, "--max-queries", "send fewer queries per call")
    if 1 <= k <= MAX_K and nq <= MAX_QUERIES and nq * k > config.max_results:
        raise _over(
            f"queries x k ({nq:,} x {k:,}) =", nq * k, config.max_results, "--max-results", "lower k or split the batch"
        )
    if request.HasField("filter"):
        check_filter(request.filter, config)


def check_filter(f: types_pb2.Filter, config: ServerConfig) -> None:
    """Depth and node count of a filter, walked iteratively (the converter recurses; this must not)."""
    stack = [(f, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        if depth > config.max_filter_depth:
            raise InvalidArgument(f"filter nested deeper than {config.max_filter_depth} levels")
        nodes += 1
        if nodes > config.max_filter_nodes:
            raise _over("filter nodes", nodes, config.max_filter_nodes, "--max-filter-nodes", "simplify the filter")
        which = node.WhichOneof("node")
        if which in ("all_of", "any_of"):
            stack.extend((x, depth + 1) for x in getattr(node, which).filters)
        elif which == "not_filter":
            stack.append((node.not_filter, depth + 1))


class CountedParts:
    """The parts of an atomic upsert stream, refused as soon as their points exceed the server's limit (the
    parts are held in memory until the one transaction commits)."""

    def __init__(self, parts: Iterator, config: ServerConfig) -> None:
        self._parts = parts
        self._config = config
        self.points = 0

    def __iter__(self) -> Iterator:
        for part in self._parts:
            self.points += point_count(part.ids)
            check_points(self.points, self._config, "points in one atomic upsert stream")
            yield part


def backup_target(path: str, config: ServerConfig) -> str:
    """The server-side path Admin.Backup may write: inside config.backup_dir when one is set (relative paths are
    taken relative to it; '..' or a symlink cannot lead out), anywhere otherwise."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidArgument(f"backup path {path!r} is not a usable path")
    if config.backup_dir is None:
        return path
    root = config.backup_dir
    target = os.path.realpath(os.path.join(root, path))
    if os.path.commonpath([root, target]) != root or target == root:
        raise PermissionDenied(
            f"backup path {path!r} is outside this server's backup directory (--backup-dir); "
            "give a new sub-directory name"
        )
    return target

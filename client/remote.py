"""RemoteDatabase / RemoteCollection: the embedded API (vecdb.Database / vecdb.Collection) over gRPC, blocking.

Same methods, same arguments, same results (Hits, Point, ScrollPage with numpy arrays), same exception classes.
The operations themselves live in ops.py (shared with the asyncio client in aio.py). Remote-only extras:
upsert_batches / bulk_upsert (streaming bulk load), snapshot (download a backup), server_info, health.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from vecdb.errors import InvalidArgument
from vecdb.ids import PointId
from vecdb.results import Hits, Point, ScrollPage
from vecdb.schema import CollectionSchema

from .channel import Stubs
from .ops import CollectionOps, DatabaseOps, Op, SnapshotWriter
from .pb import admin_pb2


def drive(stubs: Stubs, op: Op) -> Any:
    """Run an operation: send each Call it yields, blocking, and return its result."""
    try:
        call = next(op)
        while True:
            call = op.send(stubs.invoke(call))
    except StopIteration as stop:
        return stop.value
    finally:
        op.close()


class RemoteCollection(CollectionOps):
    """A handle to one collection on the server: the methods of vecdb.Collection."""

    def _run(self, op: Op) -> Any:
        return drive(self._database._stubs, op)

    def count(self) -> int:
        return self._run(self._count())

    def info(self) -> dict[str, Any]:
        return self._run(self._info())

    def upsert(self, ids: object, vectors: object, payloads: object = None) -> int:
        """Insert or replace points; one atomic, durable transaction on the server. Returns the number written.
        Requests larger than the server's message limit are streamed in parts and still committed as one."""
        return self._run(self._upsert(ids, vectors, payloads))

    def upsert_batches(self, batches: Iterable[tuple], *, timeout: float | None = None) -> int:
        """Bulk load: each (ids, vectors[, payloads]) batch is committed in its own transaction as it arrives over
        ONE stream, without a round trip per batch. Returns the number of points written. On an error the batches
        before it stay committed (the error message says how many points that is)."""
        return self._run(self._upsert_batches(batches, timeout))

    def bulk_upsert(self, ids: object, vectors: object, payloads: object = None, *, batch_size: int = 5000) -> int:
        """upsert_batches over slices of `batch_size` points (each slice its own transaction)."""
        return self.upsert_batches(self._batches(ids, vectors, payloads, batch_size))

    def delete(self, ids: object) -> int:
        """Delete points by id (unknown ids are ignored). Returns how many were deleted."""
        return self._run(self._delete(ids))

    def get(self, ids: object, *, with_payload: bool = True, with_vectors: bool = False) -> list[Point]:
        """The points with these ids that exist, in the order asked."""
        return self._run(self._get(ids, with_payload, with_vectors))

    def scroll(
        self,
        limit: int = 100,
        offset: PointId | None = None,
        *,
        with_payload: bool = True,
        with_vectors: bool = False,
    ) -> ScrollPage:
        """One page of points in id order (integers first, then strings), starting at id `offset`."""
        return self._run(self._scroll(limit, offset, with_payload, with_vectors))

    def search(
        self,
        field: str,
        queries: object,
        k: int = 10,
        *,
        with_payload: bool = True,
        filter: object = None,  # noqa: A002 - the engine's keyword
        params: object = None,
        model_version: str | None = None,
        timeout: float | None = None,
    ) -> Hits | list[Hits]:
        """The k nearest points to each query. A 1-D query gives one Hits; a matrix gives a list of Hits.
        filter / params / model_version are forwarded to engines that support them (server_info()["features"])."""
        return self._run(self._search(field, queries, k, with_payload, filter, params, model_version, timeout))

    def compact(self, *, progress: bool | None = None) -> dict[str, int]:
        """Reclaim the rows of deleted and replaced points on the server (progress is shown there, not here)."""
        return self._run(self._compact())

    def build_index(self, field: str | None = None, *, progress: bool | None = None, chunk: int = 100_000) -> int:
        """Index the rows not yet in the graph of `field` (every indexed field if None) on the server, in
        transactions of `chunk` rows. Returns the number of rows indexed (progress is shown there, not here)."""
        return self._run(self._build_index(field, chunk))

    def calibrate(
        self,
        field: str,
        *,
        k: int = 10,
        recall_target: float | None = 0.9,
        n_pseudo: int = 64,
        pseudo_tokens: int = 32,
        seed: int = 0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Measure how many FDE candidates the multi-vector `field` needs (on the server): pseudo-queries cut from
        random documents are answered exactly, and the FDE ranks of their answers give recall@k per candidate
        count. With recall_target, the count reaching it becomes the field's default. Returns the counts for a
        few recall levels: {"k", "queries", "default_candidates", "candidates_for": {recall: candidates}}."""
        return self._run(self._calibrate(field, k, recall_target, n_pseudo, pseudo_tokens, seed, timeout))

    def train_compression(
        self,
        field: str,
        sample: int | None = None,
        seed: int = 0,
        *,
        queries: object = None,
        progress: bool | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """(Re)train the codec of the compressed `field` on the server (see vecdb.Collection.train_compression);
        returns the codec header (bytes_per_vector, trained_on, calibration...)."""
        return self._run(self._train_compression(field, sample, seed, queries, timeout))

    def compression_report(
        self,
        field: str,
        codecs: list | None = None,
        sample: int = 1000,
        k: int = 10,
        seed: int = 0,
        *,
        recall_target: float = 0.95,
        progress: bool | None = None,
        timeout: float | None = None,
    ) -> list:
        """The measured price of candidate codecs on the field's own vectors, measured on the server (see
        vecdb.Collection.compression_report): ReportRows, the exact float32 scan first."""
        return self._run(self._compression_report(field, codecs, sample, k, seed, recall_target, timeout))

    def pick_compression(
        self,
        field: str,
        budget_bytes: float | None = None,
        recall_target: float | None = None,
        *,
        rows: list | None = None,
        **report_args,
    ):
        """The codec to use, chosen from measured rows (given, or measured now on the server) as
        vecdb.Collection.pick_compression does."""
        from vecdb.compression import choose_codec

        if budget_bytes is None and recall_target is None:
            raise InvalidArgument("give budget_bytes, recall_target, or both")
        if rows is None:
            if recall_target is not None:
                report_args.setdefault("recall_target", recall_target)
            rows = self.compression_report(field, **report_args)
        return choose_codec(rows, max_bytes=budget_bytes, min_recall=recall_target)

    def set_model_version(self, field: str, version: str) -> None:
        """Record which embedding model version the vectors of the dense `field` come from (its index version)."""
        return self._run(self._set_model_version(field, version))

    def model_versions(self, field: str) -> dict[str, Any]:
        """{"index_version": ..., "maps": {query version: {kind, d_src, d_dst, fit: held-out figures}}}."""
        return self._run(self._model_versions(field))

    def fit_query_map(
        self,
        field: str,
        version: str,
        new: object,
        old: object,
        *,
        kind: object = "auto",
        timeout: float | None = None,
        **fit_args: Any,
    ) -> dict[str, Any]:
        """Fit a map from `version`'s embeddings (new, (n, d_src)) into the index space (old, (n, dim): the same
        texts embedded by the index's model) on the server, evaluate it on held-out pairs, store it, and serve
        queries of `version` through it. kind and fit_args as in the embedded call (holdout, seed, val, weights,
        map parameters); pairs of any number travel in a stream of messages under the size limit. Training runs
        on the server (no progress bars here; `progress` is ignored). Returns the fit figures."""
        return self._run(self._fit_query_map(field, version, new, old, kind, fit_args, timeout))

    def drop_query_map(self, field: str, version: str) -> bool:
        """Delete the query map of `version` (queries of that version are refused again). False if it had none."""
        return self._run(self._drop_query_map(field, version))


class RemoteDatabase(DatabaseOps):
    """What vecdb_client.connect returns: the methods of vecdb.Database, on a server."""

    collection_class = RemoteCollection

    def __init__(self, stubs: Stubs, target: str) -> None:
        self._stubs = stubs
        self.target = target
        self._set_server_info(stubs.invoke_raw("admin", "ServerInfo", admin_pb2.ServerInfoRequest()))

    def _run(self, op: Op) -> Any:
        return drive(self._stubs, op)

    def __enter__(self) -> RemoteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"vecdb_client.RemoteDatabase({self.target!r})"

    def close(self) -> None:
        self._stubs.channel.close()

    def server_info(self) -> dict[str, Any]:
        return self._run(self._server_info())

    def health(self, service: str = "", timeout: float | None = 5.0) -> str:
        """The grpc.health.v1 status of the server (or one service): 'SERVING', 'NOT_SERVING', ..."""
        return self._run(self._health(service, timeout))

    def create_collection(
        self,
        name: str,
        vectors: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        schema: CollectionSchema | None = None,
        exist_ok: bool = False,
    ) -> RemoteCollection:
        return self._run(self._create_collection(name, vectors, payload, schema, exist_ok))

    def get_collection(self, name: str) -> RemoteCollection:
        """The collection called `name`, or the one the alias `name` points to."""
        return self._run(self._get_collection(name))

    __getitem__ = get_collection

    def has_collection(self, name: str) -> bool:
        return self._run(self._has_collection(name))

    def list_collections(self) -> list[str]:
        return self._run(self._list_collections())

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> bool:
        return self._run(self._drop_collection(name, missing_ok))

    def set_alias(self, alias: str, collection: str) -> None:
        return self._run(self._set_alias(alias, collection))

    def delete_alias(self, alias: str) -> bool:
        return self._run(self._delete_alias(alias))

    def list_aliases(self) -> dict[str, str]:
        return self._run(self._list_aliases())

    def backup(self, path: str | os.PathLike) -> dict[str, Any]:
        """Write a consistent copy of the database into the empty directory `path` ON THE SERVER (as the embedded
        call does on the machine holding the data). To copy it here instead, use snapshot(path)."""
        return self._run(self._backup(path))

    def snapshot(self, path: str | os.PathLike, *, timeout: float | None = None) -> dict[str, Any]:
        """Download a consistent, compacted snapshot of the database into the empty local directory `path`
        (`vecdb.open(path)` opens it)."""
        writer = SnapshotWriter(path)
        try:
            for chunk in self._stubs.stream("admin", "Snapshot", admin_pb2.SnapshotRequest(), timeout):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def stats(self) -> dict[str, Any]:
        return self._run(self._stats())

"""The asyncio client: the same methods as RemoteDatabase / RemoteCollection, as coroutines.

    db = await vecdb_client.connect_async("localhost:50051")
    col = await db.get_collection("docs")
    hits = await col.search("emb", query, k=10)

Every method runs the same operation generator (ops.py) as the blocking client, driven with awaits, so arguments,
results and errors are identical; tests/test_grpc_congruence.py runs its scenarios through this client too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from vecdb.errors import InvalidArgument
from vecdb.ids import PointId
from vecdb.results import Hits, Point, ScrollPage
from vecdb.schema import CollectionSchema

from .channel import AsyncStubs
from .ops import CollectionOps, DatabaseOps, Op, SnapshotWriter
from .pb import admin_pb2


async def adrive(stubs: AsyncStubs, op: Op) -> Any:
    """Run an operation: await each Call it yields, and return its result."""
    try:
        call = next(op)
        while True:
            call = op.send(await stubs.invoke(call))
    except StopIteration as stop:
        return stop.value
    finally:
        op.close()


class AsyncRemoteCollection(CollectionOps):
    """A handle to one collection on the server: the methods of vecdb.Collection, as coroutines."""

    async def _run(self, op: Op) -> Any:
        return await adrive(self._database._stubs, op)

    async def count(self) -> int:
        return await self._run(self._count())

    async def info(self) -> dict[str, Any]:
        return await self._run(self._info())

    async def upsert(self, ids: object, vectors: object, payloads: object = None) -> int:
        return await self._run(self._upsert(ids, vectors, payloads))

    async def upsert_batches(self, batches: Iterable[tuple], *, timeout: float | None = None) -> int:
        return await self._run(self._upsert_batches(batches, timeout))

    async def bulk_upsert(
        self, ids: object, vectors: object, payloads: object = None, *, batch_size: int = 5000
    ) -> int:
        return await self.upsert_batches(self._batches(ids, vectors, payloads, batch_size))

    async def delete(self, ids: object) -> int:
        return await self._run(self._delete(ids))

    async def get(self, ids: object, *, with_payload: bool = True, with_vectors: bool = False) -> list[Point]:
        return await self._run(self._get(ids, with_payload, with_vectors))

    async def scroll(
        self,
        limit: int = 100,
        offset: PointId | None = None,
        *,
        with_payload: bool = True,
        with_vectors: bool = False,
    ) -> ScrollPage:
        return await self._run(self._scroll(limit, offset, with_payload, with_vectors))

    async def search(
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
        return await self._run(self._search(field, queries, k, with_payload, filter, params, model_version, timeout))

    async def compact(self, *, progress: bool | None = None) -> dict[str, int]:
        return await self._run(self._compact())

    async def build_index(self, field: str | None = None, *, progress: bool | None = None, chunk: int = 100_000) -> int:
        """Index the rows not yet in the graph of `field` (every indexed field if None) on the server, in
        transactions of `chunk` rows. Returns the number of rows indexed (progress is shown there, not here)."""
        return await self._run(self._build_index(field, chunk))

    async def calibrate(
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
        return await self._run(self._calibrate(field, k, recall_target, n_pseudo, pseudo_tokens, seed, timeout))

    async def train_compression(
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
        return await self._run(self._train_compression(field, sample, seed, queries, timeout))

    async def compression_report(
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
        return await self._run(self._compression_report(field, codecs, sample, k, seed, recall_target, timeout))

    async def pick_compression(
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
            rows = await self.compression_report(field, **report_args)
        return choose_codec(rows, max_bytes=budget_bytes, min_recall=recall_target)

    async def set_model_version(self, field: str, version: str) -> None:
        """Record which embedding model version the vectors of the dense `field` come from (its index version)."""
        return await self._run(self._set_model_version(field, version))

    async def model_versions(self, field: str) -> dict[str, Any]:
        """{"index_version": ..., "maps": {query version: {kind, d_src, d_dst, fit: held-out figures}}}."""
        return await self._run(self._model_versions(field))

    async def fit_query_map(
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
        return await self._run(self._fit_query_map(field, version, new, old, kind, fit_args, timeout))

    async def drop_query_map(self, field: str, version: str) -> bool:
        """Delete the query map of `version` (queries of that version are refused again). False if it had none."""
        return await self._run(self._drop_query_map(field, version))


class AsyncRemoteDatabase(DatabaseOps):
    """What vecdb_client.connect_async returns."""

    collection_class = AsyncRemoteCollection

    def __init__(self, stubs: AsyncStubs, target: str, info: admin_pb2.ServerInfoResponse) -> None:
        self._stubs = stubs
        self.target = target
        self._set_server_info(info)

    async def _run(self, op: Op) -> Any:
        return await adrive(self._stubs, op)

    async def __aenter__(self) -> AsyncRemoteDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"vecdb_client.AsyncRemoteDatabase({self.target!r})"

    async def close(self) -> None:
        await self._stubs.channel.close()

    async def server_info(self) -> dict[str, Any]:
        return await self._run(self._server_info())

    async def health(self, service: str = "", timeout: float | None = 5.0) -> str:
        return await self._run(self._health(service, timeout))

    async def create_collection(
        self,
        name: str,
        vectors: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        schema: CollectionSchema | None = None,
        exist_ok: bool = False,
    ) -> AsyncRemoteCollection:
        return await self._run(self._create_collection(name, vectors, payload, schema, exist_ok))

    async def get_collection(self, name: str) -> AsyncRemoteCollection:
        return await self._run(self._get_collection(name))

    async def has_collection(self, name: str) -> bool:
        return await self._run(self._has_collection(name))

    async def list_collections(self) -> list[str]:
        return await self._run(self._list_collections())

    async def drop_collection(self, name: str, *, missing_ok: bool = False) -> bool:
        return await self._run(self._drop_collection(name, missing_ok))

    async def set_alias(self, alias: str, collection: str) -> None:
        return await self._run(self._set_alias(alias, collection))

    async def delete_alias(self, alias: str) -> bool:
        return await self._run(self._delete_alias(alias))

    async def list_aliases(self) -> dict[str, str]:
        return await self._run(self._list_aliases())

    async def backup(self, path: str | os.PathLike) -> dict[str, Any]:
        return await self._run(self._backup(path))

    async def snapshot(self, path: str | os.PathLike, *, timeout: float | None = None) -> dict[str, Any]:
        writer = SnapshotWriter(path)
        try:
            async for chunk in self._stubs.stream("admin", "Snapshot", admin_pb2.SnapshotRequest(), timeout):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    async def stats(self) -> dict[str, Any]:
        return await self._run(self._stats())

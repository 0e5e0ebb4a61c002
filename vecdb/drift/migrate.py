"""Migration to a new embedding model without downtime.

    mig = Migration(db, "docs", "emb", vecdb.Dense(768), embed=lambda ids, payloads: model(texts_of(payloads)),
                    version="model-v2", alias="docs_live")
    mig.run()            # or mig.start() for a background thread; mig.progress() at any time

1. Every live point of the source collection is re-embedded (embed(ids, payloads) -> (n, new dim) array) into a
   target collection (same payloads, other vector fields copied), in row order, resumably: progress is stored in
   the target after every batch, and a new Migration picks up where a crashed or cancelled one stopped.
2. While it runs, the re-embedded rows are pairs (new vector, old vector): once `map_after` of them exist, a
   query map from the new version into the old index space is fitted and registered on the source field, so
   queries from the new model are served by the old collection through the map long before the re-embedding ends.
3. Writes to the source during the migration are caught up (new and replaced points re-embedded, deleted ones
   deleted), and the alias is flipped to the target in the same write transaction that checks the source has not
   changed since the last catch-up: a write can never fall between the final pass and the flip.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..schema import CollectionSchema, Dense
from .migration import MigrationProgress, PairReservoir
from .registry import check_version

_PROGRESS_KEY = b"migration"


class Migration:
    def __init__(
        self,
        db,
        source: str,
        field: str,
        new_field: Dense,
        embed: Callable[[list, list[dict]], np.ndarray],
        *,
        version: str,
        target: str | None = None,
        alias: str | None = None,
        batch_size: int = 256,
        map_after: int = 1000,
        map_kind: str | None = None,
        seed: int = 0,
    ) -> None:
        self.db = db
        self.source = source
        self.field = field
        self.version = check_version(version)
        src = db.get_collection(source)
        old = src.schema.field(field)
        if not isinstance(old, Dense) or not isinstance(new_field, Dense):
            raise InvalidArgument("migration re-embeds dense fields")
        if not callable(embed):
            raise InvalidArgument("embed must be a function (ids, payloads) -> (n, dim) array")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 100_000:
            raise InvalidArgument(f"batch_size must be an integer in [1, 100000], got {batch_size!r}")
        self.old_field, self.new_field, self.embed = old, new_field, embed
        self.target = target or re.sub(r"[^A-Za-z0-9_-]", "_", f"{source}__{version}")[:64]
        self.alias = alias
        self.batch_size = batch_size
        self.map_after = map_after
        self.map_kind = map_kind or ("procrustes" if new_field.dim == old.dim else "ridge")
        self.reservoir = PairReservoir(new_field.dim, old.dim, seed=seed)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress = MigrationProgress(state="pending", rows_done=0, rows_total=src.count())
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> threading.Thread:
        """Run in a background thread (queries keep being served meanwhile)."""
        self._thread = threading.Thread(target=self._run_guarded, name=f"migrate-{self.source}", daemon=True)
        self._thread.start()
        return self._thread

    def _run_guarded(self) -> None:
        try:
            self.run(progress=False)
        except BaseException as e:  # noqa: BLE001 - surfaced by wait() / progress()
            self.error = e

    def wait(self, timeout: float | None = None) -> MigrationProgress:
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self._progress

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self) -> dict[str, Any]:
        return self._progress.to_dict()

    # ------------------------------------------------------------------ the work
    def _target(self):
        src = self.db.get_collection(self.source)
        vectors = {n: (self.new_field if n == self.field else f) for n, f in src.schema.vectors.items()}
        return self.db.create_collection(
            self.target, schema=CollectionSchema(vectors, dict(src.schema.payload)), exist_ok=True
        )

    def run(self, progress: bool | None = None) -> MigrationProgress:
        from tqdm.auto import tqdm

        src = self.db.get_collection(self.source)
        tgt = self._target()
        state = tgt._get_meta(_PROGRESS_KEY)
        epoch = src._snapshot_state().epoch
        row = state["row"] if state and state.get("source_epoch") == epoch else 0
        show = sys.stderr.isatty() if progress is None else progress
        total = src.count()
        started = time.time()
        done = state["rows_done"] if state and row else 0
        bar = tqdm(
            total=total,
            initial=min(done, total),
            desc=f"re-embed {self.source}.{self.field}",
            unit="pt",
            disable=not show,
        )
        self._set_progress("running", done, total, started, row)
        try:
            while True:
                synced_gen = src._snapshot_state().generation
                row, done = self._copy_from(src, tgt, row, done, bar, started, epoch)
                self._sync_deletes(src, tgt)
                if self._cancel.is_set():
                    self._set_progress("cancelled", done, src.count(), started, row)
                    return self._progress
                if self._flip_if_unchanged(src, tgt, synced_gen):
                    break
        finally:
            bar.close()
        self._set_progress("done", done, tgt.count(), started, row)
        return self._progress

    def _copy_from(self, src, tgt, row: int, done: int, bar, started: float, epoch: int) -> tuple[int, int]:
        while not self._cancel.is_set():
            nxt, ids, payloads, vectors = src._read_rows(row, self.batch_size)
            if nxt == row:
                return row, done
            if ids:
                new = np.asarray(self.embed(list(ids), payloads), dtype=np.float32)
                if new.shape != (len(ids), self.new_field.dim):
                    raise InvalidArgument(
                        f"embed returned shape {new.shape} for {len(ids)} points; expected "
                        f"({len(ids)}, {self.new_field.dim})"
                    )
                vecs = {n: (new if n == self.field else v) for n, v in vectors.items()}
                tgt.upsert(ids, vecs, payloads)
                self.reservoir.add(new, vectors[self.field])
                self._maybe_register_map(src)
            done += len(ids)
            row = nxt
            tgt._put_meta(
                _PROGRESS_KEY, {"row": row, "rows_done": done, "source_epoch": epoch, "version": self.version}
            )
            bar.update(len(ids))
            self._set_progress("running", done, max(src.count(), done), started, row)
        return row, done

    def _maybe_register_map(self, src) -> None:
        n = len(self.reservoir)
        registered = self.version in src.model_versions(self.field)["maps"]
        # fit once enough pairs exist, refit as the sample doubles (the map improves while the migration runs)
        if n >= self.map_after and (not registered or n >= 2 * self._last_fit_pairs):
            new, old = self.reservoir.pairs()
            src.fit_query_map(self.field, self.version, new, old, kind=self.map_kind, progress=False)
            self._last_fit_pairs = n

    _last_fit_pairs = 0

    def _sync_deletes(self, src, tgt) -> None:
        have = set(_all_ids(src))
        gone = [i for i in _all_ids(tgt) if i not in have]
        if gone:
            tgt.delete(gone)

    def _flip_if_unchanged(self, src, tgt, synced_generation: int) -> bool:
        """Mark the target's index version, and point the alias at it, in ONE transaction that first checks the
        source has had no write since the catch-up that began at synced_generation. False: catch up again."""
        if self.alias is None:
            tgt.set_model_version(self.field, self.version)
            return src._snapshot_state().generation == synced_generation
        return self.db._flip_alias_if(self.alias, src, synced_generation, tgt, self.field, self.version)

    def _set_progress(self, state: str, done: int, total: int, started: float, row: int) -> None:
        elapsed = max(time.time() - started, 1e-9)
        rate = done / elapsed
        self._progress = MigrationProgress(
            state=state,
            rows_done=done,
            rows_total=max(total, done),
            last_row=row,
            started_at=started,
            updated_at=time.time(),
            rate=rate,
            eta_seconds=(max(total - done, 0) / rate) if rate else None,
            pairs_sampled=len(self.reservoir),
        )


def _all_ids(col) -> list:
    out, offset = [], None
    while True:
        page = col.scroll(limit=10_000, offset=offset, with_payload=False)
        out += [p.id for p in page.points]
        if page.next_offset is None:
            return out
        offset = page.next_offset

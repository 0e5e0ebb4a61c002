"""The Compression service: train a compressed field's codec and measure candidate codecs on a field's own vectors
(vecdb.Collection.train_compression, compression_report), as thin adapters like every servicer (see
servicers.py). The server never draws progress bars."""

from __future__ import annotations

from typing import Any

from vecdb.compression import CompressionSpec
from vecdb.errors import FailedPrecondition
from vecdb_client import convert as C
from vecdb_client.pb import collections_pb2, models_pb2, models_pb2_grpc

from .servicers import _Base


def _train(col, field: str, request) -> collections_pb2.JsonReport:
    kwargs: dict[str, Any] = {"progress": False}
    if request.HasField("sample"):
        kwargs["sample"] = request.sample
    if request.HasField("seed"):
        kwargs["seed"] = request.seed
    if request.HasField("queries"):
        kwargs["queries"] = C.from_pb_tensor(request.queries, "queries")
    return collections_pb2.JsonReport(json=C.to_json(col.train_compression(field, **kwargs)))


class CompressionServicer(_Base, models_pb2_grpc.CompressionServicer):
    def TrainCompression(self, request, context):
        return _train(self.col(request.collection), request.field, request)

    def SetCompression(self, request, context):
        col = self.col(request.collection)
        f = col.schema.field(request.field)
        have = getattr(f, "compression", None)
        want = CompressionSpec.from_dict(C.from_pb_compression_spec(request.spec)) if request.HasField("spec") else None
        if want is None or have is None or want != have:
            raise FailedPrecondition(
                f"field {request.field!r} has compression {have.to_dict() if have else None}: this engine fixes a "
                "field's codec when the collection is created (Dense(compression=...)); SetCompression can only "
                "retrain that codec"
            )
        return _train(col, request.field, models_pb2.TrainCompressionRequest())

    def CompressionReport(self, request, context):
        col = self.col(request.collection)
        kwargs: dict[str, Any] = {"progress": False}
        for name in ("sample", "k", "seed", "recall_target"):
            if request.HasField(name):
                kwargs[name] = getattr(request, name)
        codecs = [CompressionSpec.from_dict(C.from_pb_compression_spec(s)) for s in request.codecs] or None
        rows = col.compression_report(request.field, codecs, **kwargs)
        return models_pb2.CompressionReportResponse(rows=[C.to_pb_report_row(r.to_dict()) for r in rows])

"""The Drift service: model versions of dense fields and their query maps (vecdb.Collection.set_model_version,
model_versions, fit_query_map, drop_query_map), as thin adapters like every servicer (see servicers.py)."""

from __future__ import annotations

import itertools
from typing import Any

from vecdb.errors import InvalidArgument
from vecdb_client import convert as C
from vecdb_client.pb import collections_pb2, models_pb2, models_pb2_grpc

from .servicers import _Base

# Names a FitQueryMap args_json object may not hold: the engine call's own parameters (sent as typed fields or
# arrays). `progress` is decided here: a server never draws progress bars.
RESERVED_FIT_ARGS = frozenset({"field", "version", "new", "old", "kind", "val", "weights", "progress"})


class DriftServicer(_Base, models_pb2_grpc.DriftServicer):
    def SetModelVersion(self, request, context):
        self.col(request.collection).set_model_version(request.field, request.version)
        return models_pb2.SetModelVersionResponse()

    def ModelVersions(self, request, context):
        return C.to_pb_model_versions(self.col(request.collection).model_versions(request.field))

    def DropQueryMap(self, request, context):
        dropped = self.col(request.collection).drop_query_map(request.field, request.version)
        return models_pb2.DropQueryMapResponse(dropped=bool(dropped))

    def FitQueryMap(self, request_iterator, context):
        it = iter(request_iterator)
        first = next(it, None)
        if first is None:
            raise InvalidArgument("empty FitQueryMap stream: the first message names the collection and field")
        col = self.col(first.collection)
        args = C.from_json(first.args_json, "fit arguments") if first.args_json else {}
        if not isinstance(args, dict):
            raise InvalidArgument(f"fit arguments must be a JSON object, got {type(args).__name__}")
        reserved = sorted(RESERVED_FIT_ARGS & set(args))
        if reserved:
            raise InvalidArgument(f"fit arguments {reserved} are not keyword arguments of args_json")
        pairs, val = C.PairRowsBuilder("pairs"), C.PairRowsBuilder("val pairs")
        for request in itertools.chain([first], it):
            if request is not first and (request.HasField("collection") or request.field or request.args_json):
                raise InvalidArgument("only the first message of a FitQueryMap stream names the fit")
            if request.HasField("pairs"):
                pairs.add(request.pairs)
            if request.HasField("val"):
                val.add(request.val)
        kwargs: dict[str, Any] = {**args, "progress": False}
        weights = pairs.array("weights")
        if weights is not None:
            kwargs["weights"] = weights
        if val.given:
            kwargs["val"] = (val.array("src"), val.array("dst"))
        report = col.fit_query_map(
            first.field, first.version, pairs.array("src"), pairs.array("dst"), kind=first.kind or "auto", **kwargs
        )
        return collections_pb2.JsonReport(json=C.to_json(report))

"""The server side of the multi-vector, calibration and model-version RPCs: registration (health, reflection, the
Compression service), UNIMPLEMENTED mapping, and malformed requests from other clients (every one
answered with a status and an error class, never INTERNAL, and the server stays up)."""

import grpc
import numpy as np
import pytest
from grpc_fixtures import remote, server  # noqa: F401 - fixtures
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vecdb
from vecdb import Dense, MultiVector
from vecdb import errors as E
from vecdb.multivector import FDEParams
from vecdb_client import convert as C
from vecdb_client.channel import rebuild_error
from vecdb_client.pb import (
    collections_pb2,
    collections_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    points_pb2,
    points_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
    types_pb2,
)

DIM = 4


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


def _status(fn, request):
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=10)
    meta = dict(info.value.trailing_metadata() or ())
    return info.value.code().name, meta.get("vecdb-error-class"), info.value.details(), info.value


def test_drift_and_compression_registered(channel):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"vecdb.v1.Drift", "vecdb.v1.Compression"} <= services
    check = health_pb2_grpc.HealthStub(channel).Check
    for name in ("vecdb.v1.Drift", "vecdb.v1.Compression"):
        assert check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == 1  # SERVING
    stub = models_pb2_grpc.CompressionStub(channel)
    req = models_pb2.SetCompressionRequest(
        collection=collections_pb2.CollectionRef(name="nope"), field="v", spec=types_pb2.CompressionSpec(kind="pq")
    )
    code, cls, _, err = _status(stub.SetCompression, req)
    assert code == "NOT_FOUND" and cls == "NotFound"
    assert type(rebuild_error(err)) is E.NotFound


def test_unimplemented_from_a_servicer_keeps_its_class(remote, monkeypatch):
    c = remote.create_collection("u", vectors={"v": Dense(2, "l2")})
    monkeypatch.delattr(vecdb.collection.Collection, "build_index")  # an engine without build_index
    with pytest.raises(E.Unimplemented, match="no build_index"):
        c.build_index()
    monkeypatch.undo()
    assert c.build_index() == 0
    remote.drop_collection("u")


@pytest.fixture
def mv(channel):
    """A multi-vector + dense collection made by a raw client, with two points."""
    create = collections_pb2.CreateCollectionRequest(name="raw")
    f = create.schema.vectors.add(name="t").field.multi_vector
    f.dim, f.fde.k_sim, f.fde.reps, f.fde.d_proj = DIM, 1, 2, 4
    create.schema.vectors.add(name="d").field.dense.dim = DIM
    create.schema.vectors[1].field.dense.metric = "l2"
    info = collections_pb2_grpc.CollectionsStub(channel).Create(create, timeout=10)
    schema = C.from_pb_schema(info.schema)
    assert schema.vectors["t"] == MultiVector(DIM, fde=FDEParams(k_sim=1, reps=2, d_proj=4))  # unset: defaults
    up = points_pb2.UpsertRequest(collection=collections_pb2.CollectionRef(name="raw"))
    C.to_pb_ids([1, 2, 3], up.ids)
    C.to_pb_ragged([np.ones((2, DIM)), np.eye(DIM)[:1], np.eye(DIM)[1:3]], up.vectors.add(field="t").ragged)
    C.to_pb_tensor(np.eye(3, DIM, dtype=np.float32), up.vectors.add(field="d").dense)
    assert points_pb2_grpc.PointsStub(channel).Upsert(up, timeout=10).upserted == 3
    yield collections_pb2.CollectionRef(name="raw")
    collections_pb2_grpc.CollectionsStub(channel).Drop(collections_pb2.DropCollectionRequest(name="raw"), timeout=10)


def _fit_stream(ref, *, first=None, more=()):
    head = models_pb2.FitQueryMapRequest(collection=ref, field="d", version="v2", kind="procrustes")
    if first is not None:
        first(head)
    C.to_pb_pair_rows(np.eye(DIM) * 2, np.eye(DIM), None, head.pairs)
    return iter([head, *more])


def test_malformed_feature_requests(channel, mv):
    search = search_pb2_grpc.SearchStub(channel)
    points = points_pb2_grpc.PointsStub(channel)
    drift = models_pb2_grpc.DriftStub(channel)
    cols = collections_pb2_grpc.CollectionsStub(channel)

    def multi_query(items, **kw):
        req = search_pb2.SearchRequest(collection=mv, field="t", k=1, **kw)
        C.to_pb_ragged(items, req.multi)
        return req

    two_single = multi_query([np.ones((1, DIM)), np.ones((1, DIM))], multi_single=True)
    bad_lengths = multi_query([np.ones((2, DIM))])
    bad_lengths.multi.lengths[0] = 3
    multi_on_dense = multi_query([np.ones((1, DIM))])
    multi_on_dense.field = "d"
    calibrate_both = collections_pb2.CalibrateRequest(collection=mv, field="t", recall_target=0.9, measure_only=True)
    ragged_for_dense = points_pb2.UpsertRequest(collection=mv)
    C.to_pb_ids([9], ragged_for_dense.ids)
    C.to_pb_ragged([np.ones((1, DIM))], ragged_for_dense.vectors.add(field="t").ragged)
    C.to_pb_ragged([np.ones((1, DIM))], ragged_for_dense.vectors.add(field="d").ragged)
    mv_with_codec = collections_pb2.CreateCollectionRequest(name="bad")
    mv_with_codec.schema.vectors.add(name="t").field.multi_vector.dim = DIM
    mv_with_codec.schema.vectors[0].field.compression.kind = "pq"
    later_names_fit = models_pb2.FitQueryMapRequest(field="d")
    parts_misfit = models_pb2.FitQueryMapRequest()
    C.to_pb_pair_rows(np.ones((2, DIM + 1)), np.ones((2, DIM)), None, parts_misfit.pairs)
    cases = [
        (search.Search, two_single, "InvalidArgument", "multi_single needs exactly one query, got 2"),
        (search.Search, bad_lengths, "InvalidArgument", "lengths add up to 3 rows, values hold 2"),
        (search.Search, multi_query([]), "InvalidArgument", "one (n_tokens, 4) array, or a list of them"),
        (search.Search, multi_on_dense, "InvalidArgument", ""),
        (search.Search, multi_query([np.ones((1, DIM))], model_version=""), "InvalidArgument", "dense fields"),
        (cols.Calibrate, calibrate_both, "InvalidArgument", "either recall_target or measure_only"),
        (cols.Calibrate, collections_pb2.CalibrateRequest(collection=mv, field="t", k=-2), "InvalidArgument", "k"),
        (points.Upsert, ragged_for_dense, "InvalidArgument", ""),
        (cols.Create, mv_with_codec, "InvalidArgument", "MultiVectorField.compression"),
        (drift.FitQueryMap, iter([]), "InvalidArgument", "empty FitQueryMap stream"),
        (drift.FitQueryMap, _fit_stream(mv, first=lambda h: setattr(h, "args_json", b"[1]")), "InvalidArgument",
         "JSON object"),
        (drift.FitQueryMap, _fit_stream(mv, first=lambda h: setattr(h, "args_json", b"{x")), "InvalidArgument",
         "not valid UTF-8 JSON"),
        (drift.FitQueryMap, _fit_stream(mv, first=lambda h: setattr(h, "args_json", b'{"weights": [1]}')),
         "InvalidArgument", "not keyword arguments of args_json"),
        (drift.FitQueryMap, _fit_stream(mv, more=[later_names_fit]), "InvalidArgument", "only the first message"),
        (drift.FitQueryMap, _fit_stream(mv, more=[parts_misfit]), "InvalidArgument", "do not fit together"),
        (drift.FitQueryMap, _fit_stream(mv, first=lambda h: setattr(h, "kind", "nope")), "InvalidArgument",
         "unknown drift map kind"),
        (drift.ModelVersions, models_pb2.ModelVersionsRequest(collection=mv, field="t"), "InvalidArgument",
         "dense fields"),
        (drift.SetModelVersion, models_pb2.SetModelVersionRequest(field="d", version="v"), "InvalidArgument",
         "collection name"),
    ]  # fmt: skip
    for fn, req, cls, msg in cases:
        code, got_cls, details, _ = _status(fn, req)
        assert got_cls == cls and msg in details, (code, got_cls, details)
        assert code == E.error_for(cls, "").grpc_code
    # The server is still serving, and a well-formed raw stream works: unset kind means auto.
    ok = drift.FitQueryMap(_fit_stream(mv, first=lambda h: setattr(h, "args_json", b'{"holdout": 0}')), timeout=30)
    assert C.from_json(ok.json)["kind"] == "procrustes"
    versions = C.from_pb_model_versions(drift.ModelVersions(models_pb2.ModelVersionsRequest(collection=mv, field="d")))
    assert list(versions["maps"]) == ["v2"] and versions["index_version"] is None


def test_calibrate_defaults_for_unset_fields(channel, mv):
    """A third-party CalibrateRequest with only the field set gets the embedded defaults (k 10, target 0.9)."""
    cols = collections_pb2_grpc.CollectionsStub(channel)
    got = C.from_pb_calibration(cols.Calibrate(collections_pb2.CalibrateRequest(collection=mv, field="t"), timeout=30))
    assert got["k"] == 10 and got["default_candidates"] == got["candidates_for"][0.9]
    measured = cols.Calibrate(collections_pb2.CalibrateRequest(collection=mv, field="t", measure_only=True), timeout=30)
    assert not measured.HasField("default_candidates")


def test_atomic_upsert_parts_must_agree_on_a_fields_form(channel, mv):
    points = points_pb2_grpc.PointsStub(channel)
    parts = []
    for i, ragged in enumerate((True, False)):
        p = points_pb2.UpsertRequest(collection=mv, atomic=i == 0)
        C.to_pb_ids([10 + i], p.ids)
        if ragged:
            C.to_pb_ragged([np.ones((1, DIM))], p.vectors.add(field="t").ragged)
        else:
            C.to_pb_tensor(np.ones((1, DIM), np.float32), p.vectors.add(field="t").dense)
        C.to_pb_tensor(np.ones((1, DIM), np.float32), p.vectors.add(field="d").dense)
        parts.append(p)
    code, cls, details, _ = _status(points.UpsertStream, iter(parts))
    assert cls == "InvalidArgument" and "same form" in details
    assert points.Count(mv, timeout=5).count == 3

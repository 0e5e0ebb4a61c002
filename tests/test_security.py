"""Security of the gRPC surface: token auth on every RPC (enumerated from the service descriptors, so a new RPC
cannot slip through), health exempt, constant-time comparison, TLS with plaintext refused, no path traversal
through collection names or backup paths."""

from __future__ import annotations

import hmac
import os

import grpc
import numpy as np
import pytest
from grpc_fixtures import start
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection
from test_grpc_server import _self_signed

import vecdb
import vecdb_client
from vecdb import Dense
from vecdb import errors as E
from vecdb_client.pb import (
    admin_pb2,
    collections_pb2,
    collections_pb2_grpc,
    models_pb2,
    points_pb2,
    points_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
    types_pb2,
)

TOKEN = "correct horse battery staple"
PROTO_MODULES = (collections_pb2, points_pb2, search_pb2, admin_pb2, models_pb2, types_pb2)
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]


def all_methods() -> list:
    """Every RPC the project's proto files define, plus health and reflection (what the server may serve)."""
    from grpc_reflection.v1alpha import reflection_pb2

    services = [s for m in PROTO_MODULES for s in m.DESCRIPTOR.services_by_name.values()]
    services += [HEALTH, reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]]
    return [m for s in services for m in s.methods]


def raw_call(channel: grpc.Channel, method, metadata=None, timeout: float = 10) -> grpc.StatusCode:
    """Call any method with an empty message (valid for every proto3 type); returns the status code."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[(method.client_streaming, method.server_streaming)]
    fn = kind(path, request_serializer=None, response_deserializer=None)
    request = iter([b""]) if method.client_streaming else b""
    if method.full_name == "grpc.health.v1.Health.Watch":
        timeout = min(timeout, 1.0)  # a watch never ends by itself: DEADLINE_EXCEEDED is its success here
    try:
        out = fn(request, timeout=timeout, metadata=metadata)
        if method.server_streaming:
            for _ in out:
                pass
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED and "Method not found" in (e.details() or ""):
            return "NOT_SERVED"
        return e.code()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    srv, _ = start(tmp_path_factory.mktemp("auth"), token=TOKEN)
    yield srv
    srv.stop(0)


def test_every_rpc_requires_the_token_except_health(auth_server):
    methods = all_methods()
    assert len(methods) >= 30  # the enumeration really found the API
    served = set(auth_server.services) | {HEALTH.full_name, reflection.SERVICE_NAME}
    with grpc.insecure_channel(f"127.0.0.1:{auth_server.port}") as ch:
        for m in methods:
            svc = m.containing_service.full_name
            for metadata in (None, (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)):
                code = raw_call(ch, m, metadata)
                if svc not in served:
                    assert code == "NOT_SERVED", f"{m.full_name} answers {code} but the server does not serve {svc}"
                elif svc == HEALTH.full_name:
                    assert code != grpc.StatusCode.UNAUTHENTICATED, f"health must be exempt ({m.full_name})"
                else:
                    assert code == grpc.StatusCode.UNAUTHENTICATED, f"{m.full_name} with {metadata} gave {code}"
            good = raw_call(ch, m, (("authorization", f"Bearer {TOKEN}"),))
            if svc in served:
                assert good not in (grpc.StatusCode.UNAUTHENTICATED, "NOT_SERVED"), (m.full_name, good)
    # every service the server registered was enumerated (a service outside the proto files would fail here)
    assert served <= {m.containing_service.full_name for m in methods}


def test_token_comparison_is_constant_time(auth_server, monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    target = f"127.0.0.1:{auth_server.port}"
    with pytest.raises(E.Unauthenticated, match="invalid token"):
        vecdb_client.connect(target, token="x" * len(TOKEN))
    with vecdb_client.connect(target, token=TOKEN) as db:
        db.list_collections()
    expected = f"Bearer {TOKEN}".encode()
    assert (f"Bearer {'x' * len(TOKEN)}".encode(), expected) in seen
    assert (expected, expected) in seen


def test_tls_with_token_and_plaintext_refused(tmp_path):
    pytest.importorskip("cryptography")
    cert, key = _self_signed()
    srv, port = start(tmp_path / "db", token=TOKEN, tls_cert=cert, tls_key=key)
    try:
        tls = vecdb_client.TLS(root_certificates=cert)
        with vecdb_client.connect(f"localhost:{port}", tls=tls, token=TOKEN, timeout=30) as db:
            db.create_collection("c", vectors={"v": Dense(2, "l2")}).upsert([1], [[1, 2]])
            assert db.health() == "SERVING"
        with pytest.raises(E.Unauthenticated):
            vecdb_client.connect(f"localhost:{port}", tls=tls, timeout=30)
        # a plaintext client is refused before any RPC: health included, and with the right token
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            for m in (HEALTH.methods_by_name["Check"], points_pb2.DESCRIPTOR.services_by_name["Points"].methods[0]):
                assert (
                    raw_call(ch, m, (("authorization", f"Bearer {TOKEN}"),), timeout=5) == grpc.StatusCode.UNAVAILABLE
                )
    finally:
        srv.stop(0)


BAD_NAMES = ["../x", "..", ".", "a/b", "/etc/passwd", "a\\b", "a\x00b", "\x00", "", "x" * 65, "-x", "a b", "ü"]


def test_collection_names_cannot_traverse_paths(tmp_path):
    srv, port = start(tmp_path / "db")
    try:
        before = sorted(os.listdir(tmp_path / "db"))
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        cols = collections_pb2_grpc.CollectionsStub(ch)
        pts = points_pb2_grpc.PointsStub(ch)
        srch = search_pb2_grpc.SearchStub(ch)
        for name in BAD_NAMES:
            ref = collections_pb2.CollectionRef(name=name)
            create = collections_pb2.CreateCollectionRequest(name=name)
            create.schema.vectors.add(name="v").field.dense.dim = 2
            calls = [
                (cols.Create, create),
                (cols.Get, collections_pb2.GetCollectionRequest(name=name)),
                (cols.Has, collections_pb2.HasCollectionRequest(name=name)),
                (cols.Drop, collections_pb2.DropCollectionRequest(name=name, missing_ok=True)),
                (cols.SetAlias, collections_pb2.SetAliasRequest(alias=name, collection="ok")),
                (cols.SetAlias, collections_pb2.SetAliasRequest(alias="ok", collection=name)),
                (cols.DeleteAlias, collections_pb2.DeleteAliasRequest(alias=name)),
                (cols.Info, ref),
                (cols.Compact, ref),
                (cols.BuildIndex, collections_pb2.BuildIndexRequest(collection=ref)),
                (pts.Upsert, points_pb2.UpsertRequest(collection=ref)),
                (pts.Get, points_pb2.GetPointsRequest(collection=ref)),
                (pts.Delete, points_pb2.DeletePointsRequest(collection=ref)),
                (pts.Scroll, points_pb2.ScrollRequest(collection=ref, limit=10)),
                (pts.Count, ref),
                (srch.Search, search_pb2.SearchRequest(collection=ref, field="v", k=1)),
            ]
            for fn, req in calls:
                with pytest.raises(grpc.RpcError) as info:
                    fn(req, timeout=10)
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (fn, name, info.value.details())
        ch.close()
        assert sorted(os.listdir(tmp_path / "db")) == before  # nothing was created beside the database
        assert not any(p.name.startswith(("x", "etc")) for p in tmp_path.iterdir())
    finally:
        srv.stop(0)


def test_names_with_a_trailing_newline_are_rejected(tmp_path):
    with vecdb.open(tmp_path / "db") as db:
        with pytest.raises(vecdb.InvalidArgument):
            db.create_collection("abc\n", vectors={"v": Dense(2)})
        with pytest.raises(vecdb.InvalidArgument):
            db.create_collection("ok", vectors={"v\n": Dense(2)})


def test_backup_is_confined_to_the_backup_dir(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (backups / "link").symlink_to(outside)
    srv, port = start(tmp_path / "db", backup_dir=str(backups))
    try:
        with vecdb_client.connect(f"127.0.0.1:{port}", timeout=30) as db:
            db.create_collection("c", vectors={"v": Dense(2, "l2")}).upsert([1, 2], np.eye(2))
            report = db.backup("nightly")
            assert report["path"] == str(backups / "nightly")
            with vecdb.open(backups / "nightly", read_only=True) as copy:
                assert copy["c"].count() == 2
            for bad in ["../escape", str(outside / "abs"), "link/inside-symlink", ".", "a/../../escape", "/"]:
                with pytest.raises(E.PermissionDenied, match="outside this server's backup directory"):
                    db.backup(bad)
            with pytest.raises(E.InvalidArgument):
                db.backup("a\x00b")
        assert sorted(p.name for p in backups.iterdir()) == ["link", "nightly"]
        assert list(outside.iterdir()) == [] and not (tmp_path / "escape").exists()
    finally:
        srv.stop(0)


def test_backup_path_with_nul_is_invalid_argument_without_backup_dir(tmp_path):
    srv, port = start(tmp_path / "db")
    try:
        with vecdb_client.connect(f"127.0.0.1:{port}", timeout=30) as db:
            for bad in ["a\x00b", ""]:
                with pytest.raises(E.InvalidArgument, match="not a usable path"):
                    db.backup(bad)
    finally:
        srv.stop(0)

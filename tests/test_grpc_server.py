"""The server's behaviour beyond the API: health, reflection, auth, TLS, size limits, malformed requests from other
clients, deadlines, retries, graceful shutdown, error mapping, snapshots, and the `vecdb serve` command."""

import datetime as dt
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from grpc_fixtures import remote, server, start  # noqa: F401 - fixtures
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vecdb
import vecdb_client
from vecdb import Dense
from vecdb import errors as E
from vecdb_client import convert as C
from vecdb_client.pb import collections_pb2, points_pb2, points_pb2_grpc, search_pb2, search_pb2_grpc, types_pb2


def _raw(srv):
    return grpc.insecure_channel(f"127.0.0.1:{srv.port}")


def _health(channel, service=""):
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_and_reflection(server):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with _raw(server) as ch:
        for svc in ["", "vecdb.v1.Collections", "vecdb.v1.Points", "vecdb.v1.Search", "vecdb.v1.Admin"]:
            assert _health(ch, svc) == health_pb2.HealthCheckResponse.SERVING
        services = set(ProtoReflectionDescriptorDatabase(ch).get_services())
        assert {"vecdb.v1.Search", "vecdb.v1.Points", "grpc.health.v1.Health"} <= services
        desc = ProtoReflectionDescriptorDatabase(ch).FindFileContainingSymbol("vecdb.v1.SearchRequest")
        assert desc.name == "vecdb/v1/search.proto"


def test_server_info(remote):
    info = remote.server_info()
    assert info["api_version"] == "v1" and info["engine_version"] == vecdb.__version__
    assert info["max_message_bytes"] == 64 << 20 and not info["auth_required"]
    assert remote.health() == "SERVING"


# ------------------------------------------------------------------------------------------------ auth
@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    srv, _ = start(tmp_path_factory.mktemp("auth"), token="s3cret")
    yield srv
    srv.stop(0)


def test_auth_rejects_missing_or_wrong_token(auth_server):
    target = f"127.0.0.1:{auth_server.port}"
    with pytest.raises(E.Unauthenticated, match="missing token"):
        vecdb_client.connect(target)
    with pytest.raises(E.Unauthenticated, match="invalid token"):
        vecdb_client.connect(target, token="guess")
    with _raw(auth_server) as ch:  # every RPC kind is guarded, streams included
        stub = points_pb2_grpc.PointsStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.UpsertStream(iter([points_pb2.UpsertRequest()]), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert dict(info.value.trailing_metadata())["vecdb-error-class"] == "Unauthenticated"
        assert _health(ch) == health_pb2.HealthCheckResponse.SERVING  # probes need no secret
    with vecdb_client.connect(target, token="s3cret") as db:
        c = db.create_collection("c", vectors={"v": Dense(2, "l2")})
        assert c.upsert([1], [[1, 2]]) == 1 and db.server_info()["auth_required"]


# ------------------------------------------------------------------------------------------------ TLS
def _self_signed() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_tls_with_self_signed_certificate(tmp_path):
    pytest.importorskip("cryptography")
    cert, key = _self_signed()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    srv, port = start(tmp_path / "db", tls_cert=str(tmp_path / "cert.pem"), tls_key=str(tmp_path / "key.pem"))
    try:
        with vecdb_client.connect(f"localhost:{port}", tls=vecdb_client.TLS(root_certificates=cert)) as db:
            c = db.create_collection("c", vectors={"v": Dense(3, "l2")})
            c.upsert([1, 2], np.eye(3)[:2])
            assert c.search("v", [1, 0, 0], k=1).ids == [1]
        with pytest.raises(E.Unavailable):  # a plaintext client cannot talk to a TLS server
            vecdb_client.connect(f"127.0.0.1:{port}", retries=1, timeout=5)
        with pytest.raises(E.Unavailable):  # nor a TLS client that does not trust the certificate
            vecdb_client.connect(f"localhost:{port}", tls=True, retries=1, timeout=5)
    finally:
        srv.stop(0)


# ------------------------------------------------------------------------------------------------ size limits
def test_oversized_messages(tmp_path):
    srv, port = start(tmp_path / "db", max_message_bytes=256 << 10)
    try:
        with vecdb_client.connect(f"127.0.0.1:{port}") as db:
            c = db.create_collection("c", vectors={"v": Dense(64, "l2")})
            with pytest.raises(E.ResourceExhausted, match="exceeds the size limit"):
                c.search("v", np.ones((2000, 64)), k=1)  # 512 KB of queries
            # An upsert over the limit is sent in parts and still committed as ONE transaction.
            x = np.random.default_rng(0).normal(size=(3000, 64)).astype(np.float32)  # 768 KB
            assert c.upsert(np.arange(3000), x, [{"i": i} for i in range(3000)]) == 3000
            info = c.info()
            assert info["points"] == 3000 and info["generation"] == 1
            (p,) = c.get([2999], with_vectors=True)
            assert p.payload == {"i": 2999} and np.array_equal(p.vectors["v"], x[2999])
            # ...and a bad point in the last part leaves nothing behind.
            bad = x.copy()
            bad[-1, 0] = np.nan
            with pytest.raises(E.InvalidArgument, match="row 2999 contains NaN"):
                c.upsert(np.arange(3000, 6000), bad)
            assert c.count() == 3000
            assert c.search("v", x[0], k=1).ids == [0]  # the server is still up
    finally:
        srv.stop(0)


# ------------------------------------------------------------------------------------------------ other clients
def _call(fn, request):
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=5)
    meta = dict(info.value.trailing_metadata() or ())
    return info.value.code(), meta.get("vecdb-error-class"), info.value.details()


def test_malformed_requests_get_status_codes_and_server_stays_up(server):
    with _raw(server) as ch:
        col = collections_pb2.CollectionRef(name="m")
        create = collections_pb2.CreateCollectionRequest(name="m")
        create.schema.vectors.add(name="v").field.dense.dim = 4
        create.schema.vectors[0].field.dense.metric = "l2"
        create.schema.payload.add(name="lang", type="keyword")
        from vecdb_client.pb import collections_pb2_grpc

        collections_pb2_grpc.CollectionsStub(ch).Create(create, timeout=5)
        points = points_pb2_grpc.PointsStub(ch)
        search = search_pb2_grpc.SearchStub(ch)
        ok = points_pb2.UpsertRequest(collection=col)
        C.to_pb_ids([1, 2], ok.ids)
        C.to_pb_tensor(np.eye(4)[:2].astype(np.float32), ok.vectors.add(field="v").dense)
        assert points.Upsert(ok, timeout=5).upserted == 2

        def query(**kw):
            req = search_pb2.SearchRequest(collection=col, **{"field": "v", "k": 1, **kw})
            if "dense" not in kw:
                C.to_pb_tensor(np.ones(4, np.float32), req.dense)
            return req

        wrong_dims = query(dense=C.to_pb_tensor(np.ones(3, np.float32)))
        bad_bytes = query(dense=types_pb2.Tensor(dtype=types_pb2.FLOAT32, shape=[4], data=b"\0" * 7))
        no_dtype = query(dense=types_pb2.Tensor(shape=[4], data=b"\0" * 16))
        empty_filter = query(filter=types_pb2.Filter())
        bad_value = query()
        bad_value.filter.eq.field = "lang"
        bad_value.filter.eq.value.big_int = "12x"
        unknown_col = query()
        unknown_col.collection.name = "nope"
        bad_payload = points_pb2.UpsertRequest()
        bad_payload.CopyFrom(ok)
        bad_payload.payloads.extend([b"{not json", b""])
        bad_ids = points_pb2.UpsertRequest()
        bad_ids.CopyFrom(ok)
        bad_ids.ids.uint64_le = b"\0" * 9
        cases = [
            (search.Search, wrong_dims, "INVALID_ARGUMENT", "InvalidArgument", "dimension 3, the field expects 4"),
            (search.Search, bad_bytes, "INVALID_ARGUMENT", "InvalidArgument", "needs 16 bytes"),
            (search.Search, no_dtype, "INVALID_ARGUMENT", "InvalidArgument", "dtype 0 is not set"),
            (search.Search, query(k=0), "INVALID_ARGUMENT", "InvalidArgument", "k must be in"),
            (search.Search, search_pb2.SearchRequest(collection=col, field="v", k=1), "INVALID_ARGUMENT", None, ""),
            (search.Search, empty_filter, "INVALID_ARGUMENT", "InvalidArgument", "no operator set"),
            (search.Search, bad_value, "INVALID_ARGUMENT", "InvalidArgument", "not a decimal integer"),
            (search.Search, unknown_col, "NOT_FOUND", "NotFound", "no collection or alias named 'nope'"),
            (search.Search, query(field="zz"), "INVALID_ARGUMENT", "InvalidArgument", "unknown vector field"),
            (points.Upsert, bad_payload, "INVALID_ARGUMENT", "InvalidArgument", "not valid UTF-8 JSON"),
            (points.Upsert, bad_ids, "INVALID_ARGUMENT", "InvalidArgument", "not a multiple of 8"),
            (points.Count, collections_pb2.CollectionRef(name="../x"), "INVALID_ARGUMENT", "InvalidArgument", "name"),
        ]
        for fn, req, code, cls, msg in cases:
            got_code, got_cls, details = _call(fn, req)
            assert got_code.name == code, (details, code)
            if cls is not None:
                assert got_cls == cls and msg in details, (got_cls, details)
        assert _health(ch) == health_pb2.HealthCheckResponse.SERVING
        assert points.Count(col, timeout=5).count == 2


def test_unexpected_exception_is_internal_and_logged(remote, monkeypatch, caplog):
    c = remote.create_collection("boom", vectors={"v": Dense(2, "l2")})

    def explode(self):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(vecdb.collection.Collection, "count", explode)
    with pytest.raises(E.VecDBError, match=r"internal error \(RuntimeError: kaboom\)") as info:
        c.count()
    assert type(info.value) is E.VecDBError
    assert any("kaboom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    monkeypatch.undo()
    assert c.count() == 0


def test_every_error_class_round_trips(tmp_path):
    """ReadOnly (a subclass) comes back as ReadOnly, not just as FailedPrecondition."""
    with vecdb.open(tmp_path / "db") as db:
        db.create_collection("c", vectors={"v": Dense(2, "l2")})
    srv, port = start(tmp_path / "db", read_only=True)
    try:
        with vecdb_client.connect(f"127.0.0.1:{port}") as db:
            with pytest.raises(E.ReadOnly):
                db["c"].upsert([1], [[1, 2]])
            with pytest.raises(E.AlreadyExists):
                db.backup(tmp_path)  # not empty
    finally:
        srv.stop(0)
    for cls in E.ALL_ERRORS:
        assert E.error_for(cls.__name__, cls.grpc_code) is cls
        assert issubclass(E.error_for(None, cls.grpc_code), E.VecDBError)


# ------------------------------------------------------------------------------------------------ interceptors
class _Hook(grpc.ServerInterceptor):
    """Test hook: per method, fail the first `fail` calls with UNAVAILABLE, or delay calls by `delay` seconds."""

    def __init__(self):
        self.fail: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def intercept_service(self, continuation, details):
        name = details.method.rsplit("/", 1)[-1]
        self.calls[name] = self.calls.get(name, 0) + 1
        handler = continuation(details)
        if self.fail.get(name, 0) > 0:
            self.fail[name] -= 1
            return grpc.unary_unary_rpc_method_handler(
                lambda req, ctx: ctx.abort(grpc.StatusCode.UNAVAILABLE, "try again"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if name in self.delay and handler.unary_unary is not None:
            # Sleep in the worker thread, before the guarded behaviour (intercept_service itself runs on the
            # server's dispatch thread, where a sleep would stall every call).
            inner, delay = handler.unary_unary, self.delay[name]

            def slow(req, ctx):
                time.sleep(delay)
                return inner(req, ctx)

            return grpc.unary_unary_rpc_method_handler(
                slow,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    hook = _Hook()
    srv, port = start(tmp_path_factory.mktemp("hooked"), interceptors=[hook], grace=10)
    db = vecdb_client.connect(f"127.0.0.1:{port}")
    c = db.create_collection("c", vectors={"v": Dense(2, "l2")})
    c.upsert([1, 2, 3], [[0, 0], [1, 1], [2, 2]])
    yield srv, hook, db, c
    db.close()
    srv.stop(0)


def test_idempotent_calls_are_retried(hooked):
    srv, hook, db, c = hooked
    hook.calls.clear()
    hook.fail = {"Count": 2}
    assert c.count() == 3  # two UNAVAILABLE answers, then success
    assert hook.calls["Count"] == 3
    hook.fail = {"Delete": 1}
    with pytest.raises(E.Unavailable, match="try again"):
        c.delete([3])  # not idempotent in its answer: never repeated
    assert hook.calls["Delete"] == 1 and c.count() == 3


def test_deadline_passed_before_start_runs_nothing(hooked):
    srv, hook, db, c = hooked
    hook.delay = {"Upsert": 0.4}
    try:
        with pytest.raises(E.DeadlineExceeded):
            db._stubs.invoke_raw("points", "Upsert", c._upsert_request([9], [[9, 9]], None), timeout=0.1)
    finally:
        hook.delay = {}
    time.sleep(0.5)  # the server has long finished whatever it was going to do
    assert c.get([9]) == [] and c.count() == 3


def test_graceful_shutdown_completes_in_flight_calls(tmp_path):
    hook = _Hook()
    srv, port = start(tmp_path / "db", interceptors=[hook], grace=10)
    db = vecdb_client.connect(f"127.0.0.1:{port}", retries=1)
    c = db.create_collection("c", vectors={"v": Dense(2, "l2")})
    c.upsert([1, 2], [[0, 0], [5, 5]])
    hook.delay = {"Search": 1.0}
    result = {}

    def slow_search():
        try:
            result["hits"] = c.search("v", [0, 0], k=1)
        except Exception as e:  # noqa: BLE001 - reported below
            result["error"] = e

    t = threading.Thread(target=slow_search)
    t.start()
    time.sleep(0.3)  # the search is in flight (sleeping in the hook)
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    time.sleep(0.2)
    with pytest.raises(E.Unavailable):
        c.count()  # new calls are refused once shutdown began
    t.join(10)
    stopper.join(10)
    assert "error" not in result, result.get("error")
    assert result["hits"].ids == [1]
    assert srv.wait_for_termination(0)
    db.close()
    with vecdb.open(tmp_path / "db") as again:  # the database was closed cleanly
        assert again["c"].count() == 2


# ------------------------------------------------------------------------------------------------ concurrency
def test_concurrent_searches_agree_with_sequential(remote):
    c = remote.create_collection("conc", vectors={"v": Dense(16, "cosine")})
    x = np.random.default_rng(3).normal(size=(5000, 16)).astype(np.float32)
    c.upsert(np.arange(5000), x)
    q = x[:64] + 0.01
    expected = [c.search("v", qi, k=5, with_payload=False) for qi in q]
    got: dict[int, object] = {}

    def worker(w):
        for i in range(w, 64, 8):
            got[i] = c.search("v", q[i], k=5, with_payload=False)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 64
    for i, h in enumerate(expected):
        assert got[i].ids == h.ids and np.array_equal(got[i].scores, h.scores)


# ------------------------------------------------------------------------------------------------ bulk + snapshot
def test_upsert_batches_streams_and_reports_partial_commits(remote):
    c = remote.create_collection("bulk", vectors={"v": Dense(4, "l2")}, payload={"n": "integer"})
    x = np.random.default_rng(1).normal(size=(1000, 4)).astype(np.float32)
    assert c.bulk_upsert(np.arange(1000), x, [{"n": i} for i in range(1000)], batch_size=300) == 1000
    assert c.count() == 1000 and c.info()["generation"] == 4  # one transaction per batch
    batches = [(np.arange(2000, 2100), x[:100]), (np.arange(2100, 2200), x[:100, :3])]
    with pytest.raises(E.InvalidArgument, match=r"dimension 3.*100 points of earlier batches .* were committed"):
        c.upsert_batches(iter(batches))
    assert c.count() == 1100
    # An error found locally while producing a later batch: the stream closes cleanly, then the error is raised.
    batches = [(np.arange(3000, 3050), x[:50]), ([-1], x[:1])]
    with pytest.raises(E.InvalidArgument, match=r"bad id -1.*50 points of earlier batches .* were committed"):
        c.upsert_batches(iter(batches))
    assert c.count() == 1150
    assert c.upsert_batches(iter([])) == 0


def test_snapshot_and_backup(remote, tmp_path):
    c = remote.create_collection("snap", vectors={"v": Dense(3, "l2")}, payload={"k": "keyword"})
    c.upsert(["a", 7], np.eye(3)[:2], [{"k": "x"}, None])
    got = remote.snapshot(tmp_path / "snap")
    assert got["bytes"] > 0
    with vecdb.open(tmp_path / "snap", read_only=True) as copy:
        assert copy["snap"].get(["a", 7]) == c.get(["a", 7])
    with pytest.raises(E.AlreadyExists):
        remote.snapshot(tmp_path / "snap")
    report = remote.backup(tmp_path / "server-side")  # the server runs on this machine in the tests
    assert report["path"] == str(tmp_path / "server-side") and report["bytes"] > 0
    with vecdb.open(tmp_path / "server-side", read_only=True) as copy:
        assert copy["snap"].count() == 2


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_serve_and_sigterm(tmp_path):
    data = tmp_path / "cli-data"
    env = {**os.environ, "VECDB_TOKEN": "tok", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecdb.cli", "serve", "--data", str(data), "--port", "0", "--grace", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert "vecdb serving" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        port = int(line.rsplit(":", 1)[1])
        with vecdb_client.connect(f"127.0.0.1:{port}", token="tok", timeout=30) as db:
            db.create_collection("c", vectors={"v": Dense(2, "l2")}).upsert([1, 2], [[1, 2], [3, 4]])
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and "shutting down" in err
    with vecdb.open(data, read_only=True) as db:
        assert db["c"].count() == 2


def test_remote_single_queries_reuse_the_embedded_kernels(remote):
    """The server hands the engine writable query arrays: Numba types read-only arrays apart, so a read-only view of
    the request's bytes would compile the single-query kernels a second time on the server's first search (on a
    fresh install, long enough to run past a client's deadline)."""
    from vecdb.kernels import binary
    from vecdb.kernels import graph as gk

    x = np.random.default_rng(3).standard_normal((400, 16)).astype(np.float32)
    g = remote.create_collection("ro_graph", vectors={"v": Dense(16, "l2")})
    g.upsert(list(range(400)), x)
    g.build_index()
    s = remote.create_collection(
        "ro_sign", vectors={"v": Dense(16, "cosine", index=None, compression=vecdb.compression.SignBinary())}
    )
    s.upsert(list(range(400)), x)
    s.train_compression("v")
    assert g.search("v", x[3], k=3).ids[0] == 3
    assert s.search("v", x[4], k=3).explain["path"] == "codes+rescore"
    for kernel in (gk.search_ctx, binary.sign_search_one):
        assert kernel.signatures, f"{kernel} never ran"
        assert all(sig[0].mutable for sig in kernel.signatures), f"{kernel} compiled for a read-only query"
    remote.drop_collection("ro_graph")
    remote.drop_collection("ro_sign")

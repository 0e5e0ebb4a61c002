"""Fuzzing the live gRPC surface: Hypothesis-built requests for every RPC (random field values, huge k, huge
batches and shapes, deep filters, NaN/inf, wrong dtypes, ids of every type), half of them also mutated at the byte
level or replaced by random bytes, sent to a server running in this process.

Invariants, checked after every case: the answer is OK or a deliberate status (INVALID_ARGUMENT, NOT_FOUND,
ALREADY_EXISTS, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, PERMISSION_DENIED, or UNIMPLEMENTED from our own servicer);
never INTERNAL/UNKNOWN (except the known, reported engine bugs of known_bugs.py, counted apart), never a missing
answer within the per-call deadline (a hang), and the server answers a health check right after.

    python tests/reliability/fuzz_grpc.py --examples 20000 [--seed N]   # the on-demand run; prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_strategies as S  # noqa: E402
from known_bugs import known_bug  # noqa: E402

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
}


class FuzzFailure(AssertionError):
    pass


class FuzzTarget:
    """An in-process server seeded with the collections the strategies aim at, and the bookkeeping of a run."""

    def __init__(self, workdir: str, deadline: float = 30.0, **config) -> None:
        import vecdb  # noqa: F401 - imported before the server so import errors surface here
        from vecdb_server import ServerConfig, create_server

        backups = os.path.join(workdir, "backups")
        os.makedirs(backups, exist_ok=True)
        config = {"port": 0, "workers": 4, "sync": False, "backup_dir": backups, **config}
        self.server, self.port = create_server(ServerConfig(data=os.path.join(workdir, "db"), **config))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.deadline = deadline
        self.codes: Counter = Counter()
        self.known: Counter = Counter()
        self.calls = 0
        self.seed_collections()

    def close(self) -> None:
        self.channel.close()
        self.server.stop(0)

    def seed_collections(self) -> None:
        """(Re)create "f" and "g" when a fuzzed Drop removed them (cheap when they exist)."""
        import vecdb
        from vecdb.params import HNSWParams

        db = self.server.database
        if not db.has_collection("f"):
            if "f" in db.list_aliases():
                db.delete_alias("f")
            f = db.create_collection(
                "f",
                vectors={"v": vecdb.Dense(4, "l2", index=HNSWParams(m=8, ef_construction=32, index_threshold=20))},
                payload=dict(S.PAYLOAD_SCHEMA),
            )
            rng = np.random.default_rng(0)
            f.upsert(
                np.arange(40),
                rng.normal(size=(40, 4)),
                [
                    {"n": i, "x": i / 3, "kw": "ab"[i % 2], "tags": ["a", "red"][: i % 3], "b": i % 2 == 0}
                    for i in range(40)
                ],
            )
        if not db.has_collection("g"):
            if "g" in db.list_aliases():
                db.delete_alias("g")
            g = db.create_collection(
                "g",
                vectors={
                    "v": vecdb.Dense(3, "cosine", index=None),
                    "c": vecdb.Dense(4, "l2", index=None, compression={"kind": "int8", "train_size": 20}),
                },
            )
            rng = np.random.default_rng(1)
            g.upsert([f"s{i}" for i in range(30)], {"v": rng.normal(size=(30, 3)), "c": rng.normal(size=(30, 4))})
        if "alias_f" not in db.list_aliases() and not db.has_collection("alias_f"):
            db.set_alias("alias_f", "f")

    def call(self, path: str, payload: bytes | list[bytes]) -> tuple[grpc.StatusCode, str]:
        client_stream = path in S.STREAMING_REQUESTS
        server_stream = path in S.STREAMING_RESPONSES
        make = {
            (False, False): self.channel.unary_unary,
            (False, True): self.channel.unary_stream,
            (True, False): self.channel.stream_unary,
        }[(client_stream, server_stream)]
        fn = make(path, request_serializer=None, response_deserializer=None)
        try:
            out = fn(iter(payload) if client_stream else payload, timeout=self.deadline)
            if server_stream:
                for _ in out:
                    pass
        except grpc.RpcError as e:
            return e.code(), e.details() or ""
        return grpc.StatusCode.OK, ""

    def check(self, path: str, code: grpc.StatusCode, details: str) -> None:
        self.calls += 1
        if code in ALLOWED and not (code == grpc.StatusCode.UNIMPLEMENTED and "Method not found" in details):
            self.codes[code.name] += 1
            return
        if code == grpc.StatusCode.INTERNAL:
            bug = known_bug(details)
            if bug is not None:
                self.known[bug] += 1
                return
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise FuzzFailure(f"{path} gave no answer within {self.deadline:.0f}s (a hang): {details}")
        raise FuzzFailure(f"{path} answered {code.name}: {details}")

    def check_alive(self) -> None:
        try:
            status = self.health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        except grpc.RpcError as e:
            raise FuzzFailure(f"the server stopped answering health checks: {e.code().name} {e.details()}") from None
        if status != health_pb2.HealthCheckResponse.SERVING:
            raise FuzzFailure(f"the server reports {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")

    def run_case(self, path: str, payload: bytes | list[bytes]) -> None:
        self.seed_collections()
        code, details = self.call(path, payload)
        self.check(path, code, details)
        self.check_alive()

    def report(self) -> dict:
        return {"rpc_calls": self.calls, "statuses": dict(self.codes.most_common()), "known_bug_hits": dict(self.known)}


def cases():
    """Structured requests (two thirds) and byte-mutated or random ones (one third), as (path, wire bytes)."""
    from hypothesis import strategies as st

    structured = S.requests().map(lambda c: (c[0], S.serialize(c[1])))
    return st.one_of(structured, structured, S.raw_cases())


def run(target: FuzzTarget, examples: int, seed: int | None = None) -> dict:
    """Run `examples` Hypothesis examples against `target`; raises (after shrinking) on the first violation."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hyp_seed

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases())
    def fuzz(case):
        target.run_case(*case)

    if seed is not None:
        fuzz = hyp_seed(seed)(fuzz)
    t0 = time.perf_counter()
    fuzz()
    return {"examples": examples, "seconds": round(time.perf_counter() - t0, 1), **target.report()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: derandomized, the same every run)")
    p.add_argument("--deadline", type=float, default=30.0, help="seconds an answer may take before it is a hang")
    p.add_argument("--save", action="store_true", help="also save the figures under benchmarks/results/")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vecdb-fuzz-") as workdir:
        target = FuzzTarget(workdir, deadline=a.deadline)
        try:
            res = run(target, a.examples, a.seed)
        finally:
            target.close()
    print(json.dumps(res))
    if a.save:
        from benchmarks.common import save

        print(save("reliability_fuzz_grpc", {"examples": a.examples, "seed": a.seed}, res))
    return res


if __name__ == "__main__":
    main()

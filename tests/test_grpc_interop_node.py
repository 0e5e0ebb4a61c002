"""Interoperability with a client nobody here wrote: Node's @grpc/grpc-js + @grpc/proto-loader load our .proto files
at run time and call health, create, upsert (integer and string ids) and search; an engine error must arrive with
its status code and class name. Skips cleanly when node/npm are absent or the npm registry cannot be reached.

The npm packages install into a temporary directory (kept between runs, keyed by their pinned versions); nothing
is vendored in the repository.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from grpc_fixtures import remote, server  # noqa: F401 - fixtures

GRPC_JS = "1.14.7"
PROTO_LOADER = "0.8.1"
PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"

# The standard gRPC health checking protocol (grpc.health.v1), as published by the gRPC project.
HEALTH_PROTO = """
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"""

CLIENT_JS = r"""
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const [protoRoot, healthDir, target] = process.argv.slice(2);
const def = grpc.loadPackageDefinition(loader.loadSync(
  ['vecdb/v1/collections.proto', 'vecdb/v1/points.proto', 'vecdb/v1/search.proto', 'health.proto'],
  {keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoRoot, healthDir]}));
const creds = grpc.credentials.createInsecure();
const v1 = def.vecdb.v1;
const health = new def.grpc.health.v1.Health(target, creds);
const collections = new v1.Collections(target, creds);
const points = new v1.Points(target, creds);
const search = new v1.Search(target, creds);
const call = (client, method, req) => new Promise((resolve, reject) =>
  client[method](req, {deadline: Date.now() + 20000}, (err, out) => err ? reject(err) : resolve(out)));
const tensor = (rows, shape) => ({dtype: 'FLOAT32', shape, data: Buffer.from(new Float32Array(rows.flat()).buffer)});
const json = (obj) => Buffer.from(JSON.stringify(obj));

function decodeIds(ids) {
  if (ids.uint64_le && ids.uint64_le.length) {
    const out = [];
    for (let i = 0; i < ids.uint64_le.length; i += 8) out.push(ids.uint64_le.readBigUInt64LE(i).toString());
    return out;
  }
  return ids.ids.map((p) => (p.kind === 'num' ? p.num : p.str));
}

(async () => {
  const out = {};
  out.health = (await call(health, 'Check', {service: ''})).status;
  const created = await call(collections, 'Create', {name: 'from_node', schema: {
    vectors: [{name: 'v', field: {dense: {dim: 4, metric: 'l2'}}}], payload: [{name: 'lang', type: 'keyword'}]}});
  out.created = {name: created.name, dim: created.schema.vectors[0].field.dense.dim};
  const ids = Buffer.alloc(24);
  [10n, 11n, 12n].forEach((v, i) => ids.writeBigUInt64LE(v, 8 * i));
  const up = await call(points, 'Upsert', {collection: {name: 'from_node'}, ids: {uint64_le: ids},
    vectors: [{field: 'v', dense: tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], [3, 4])}],
    payloads: [json({lang: 'en', n: 3}), Buffer.alloc(0), json({lang: 'fr'})]});
  const up2 = await call(points, 'Upsert', {collection: {name: 'from_node'}, ids: {ids: [{str: 'doc-a'}]},
    vectors: [{field: 'v', dense: tensor([[0.9, 0.1, 0, 0]], [1, 4])}]});
  out.upserted = Number(up.upserted) + Number(up2.upserted);
  const res = await call(search, 'Search', {collection: {name: 'from_node'}, field: 'v',
    dense: tensor([1, 0, 0, 0], [4]), k: 2, with_payload: true});
  const r = res.results[0];
  out.search = {
    single: res.single,
    ids: decodeIds(r.ids),
    scores: Array.from(new Float32Array(r.scores.data.buffer.slice(r.scores.data.byteOffset,
      r.scores.data.byteOffset + r.scores.data.length))),
    payloads: r.payloads.map((b) => (b.length ? JSON.parse(b.toString()) : {})),
    explain: JSON.parse(r.explain.toString()),
  };
  try {
    await call(search, 'Search', {collection: {name: 'from_node'}, field: 'v', dense: tensor([1, 0, 0], [3]), k: 1});
    out.error = 'no error';
  } catch (e) {
    out.error = {code: e.code, cls: e.metadata.get('vecdb-error-class')[0], details: e.details};
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _node_modules() -> Path:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed for the interoperability test")
    root = Path(tempfile.gettempdir()) / f"vecdb-node-interop-grpcjs{GRPC_JS}-loader{PROTO_LOADER}"
    if (root / "node_modules" / "@grpc" / "proto-loader").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    cmd = ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(root),
           f"@grpc/grpc-js@{GRPC_JS}", f"@grpc/proto-loader@{PROTO_LOADER}"]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300, cwd=root)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(root / "node_modules", ignore_errors=True)
        pytest.skip(f"npm could not install @grpc/grpc-js / @grpc/proto-loader: {getattr(e, 'stderr', e)!r}")
    return root


def test_node_grpc_js_client(server, remote, tmp_path):
    modules = _node_modules()
    (tmp_path / "health.proto").write_text(HEALTH_PROTO)
    script = tmp_path / "client.js"
    script.write_text(CLIENT_JS)
    env = {**os.environ, "NODE_PATH": str(modules / "node_modules")}
    for name in remote.list_collections():
        remote.drop_collection(name)
    proc = subprocess.run(
        ["node", str(script), str(PROTO_ROOT), str(tmp_path), f"127.0.0.1:{server.port}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["health"] == "SERVING"
    assert out["created"] == {"name": "from_node", "dim": 4} and out["upserted"] == 4
    s = out["search"]
    assert s["single"] is True and s["ids"] == ["10", "doc-a"]
    np.testing.assert_allclose(s["scores"], [0.0, np.sqrt(0.02)], rtol=1e-6)
    assert s["payloads"] == [{"lang": "en", "n": 3}, {}] and s["explain"]["path"] == "exact_scan"
    assert out["error"]["code"] == 3 and out["error"]["cls"] == "InvalidArgument"  # 3 = INVALID_ARGUMENT
    assert "dimension 3, the field expects 4" in out["error"]["details"]
    # What Node wrote is what the Python client (and the engine) read.
    col = remote["from_node"]
    hits = col.search("v", [1, 0, 0, 0], k=2)
    assert hits.ids == [10, "doc-a"] and np.allclose(hits.scores, s["scores"])
    assert [p.payload for p in col.get([10, 11, 12])] == [{"lang": "en", "n": 3}, {}, {"lang": "fr"}]

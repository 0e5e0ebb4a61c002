"""The committed generated code (client/pb) is exactly what the pinned grpcio-tools makes from proto/: fails when
a .proto changed without regenerating (bash scripts/gen_proto), or when a generated file was edited by hand."""

from pathlib import Path

import pytest

from vecdb_client.pb import _generate

REPO = Path(__file__).resolve().parent.parent
PB = REPO / "client" / "pb"


def test_generated_code_is_current(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (test extra) is needed to regenerate the code")
    written = _generate.generate(REPO / "proto", tmp_path)
    assert sorted(p.name for p in written) == _generate.generated_names(REPO / "proto")
    committed = sorted(p.name for p in PB.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")))
    assert committed == sorted(p.name for p in written), "generated files missing or left over: run scripts/gen_proto"
    stale = [p.name for p in written if p.read_text() != (PB / p.name).read_text()]
    assert not stale, f"client/pb is stale for {stale}: run bash scripts/gen_proto and commit the result"


def test_pin_matches_pyproject():
    # The version that generated the code, the one the test extra installs, and the check above agree.
    text = (REPO / "pyproject.toml").read_text()
    assert f'"grpcio-tools=={_generate.GRPCIO_TOOLS_VERSION}"' in text


def test_protobuf_runtime_accepts_gencode():
    import re

    from google.protobuf import __version__ as runtime

    gencode = re.search(r"Protobuf Python Version: (\d+)\.(\d+)\.(\d+)", (PB / "types_pb2.py").read_text())
    major, minor, patch = (int(x) for x in gencode.groups())
    floor = re.search(r'"protobuf>=(\d+)\.(\d+)\.(\d+),<(\d+)"', (REPO / "pyproject.toml").read_text())
    lo = tuple(int(x) for x in floor.groups()[:3])
    assert lo >= (major, minor, patch), "pyproject's protobuf floor is below the generated code's version"
    assert int(floor.group(4)) == major + 1, "pyproject must stay within the generated code's major version"
    assert tuple(int(x) for x in runtime.split(".")[:3]) >= (major, minor, patch)

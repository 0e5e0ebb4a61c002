"""Regenerate the Python modules of this package from proto/vecdb/v1/*.proto with the pinned grpcio-tools.

    python -m vecdb_client.pb._generate            # from the project root (or: bash scripts/gen_proto)

protoc names Python modules after the proto paths (`from vecdb.v1 import types_pb2`), which would resolve inside
the engine package `vecdb`. The generated imports are rewritten to relative ones (`from . import types_pb2`), so
the modules live in vecdb_client.pb whatever the proto package is called. tests/test_proto_generated.py runs the
same function into a temporary directory and fails when the committed files differ (stale or hand-edited).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The exact grpcio-tools that generated the committed modules (also pinned in pyproject's test extra).
GRPCIO_TOOLS_VERSION = "1.85.1"
PROTO_SUBDIR = Path("vecdb") / "v1"
_IMPORT = re.compile(r"^from vecdb\.v1 import ", re.MULTILINE)
HERE = Path(__file__).resolve().parent


def installed_tools_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("grpcio-tools")
    except PackageNotFoundError:
        return None


def generate(proto_root: Path, out_dir: Path) -> list[Path]:
    """Run protoc on every proto under proto_root/vecdb/v1 and write the rewritten modules into out_dir."""
    have = installed_tools_version()
    if have != GRPCIO_TOOLS_VERSION:
        raise RuntimeError(
            f"grpcio-tools {GRPCIO_TOOLS_VERSION} generated the committed code, but {have} is installed: "
            f"pip install grpcio-tools=={GRPCIO_TOOLS_VERSION}"
        )
    protos = sorted((proto_root / PROTO_SUBDIR).glob("*.proto"))
    if not protos:
        raise FileNotFoundError(f"no .proto files under {proto_root / PROTO_SUBDIR}")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(p.relative_to(proto_root)) for p in protos],
        ]
        subprocess.run(cmd, check=True, cwd=proto_root)
        written = []
        out_dir.mkdir(parents=True, exist_ok=True)
        for src in sorted((Path(tmp) / PROTO_SUBDIR).iterdir()):
            if src.suffix not in (".py", ".pyi"):
                continue
            dst = out_dir / src.name
            dst.write_text(_IMPORT.sub("from . import ", src.read_text()))
            written.append(dst)
    return written


def generated_names(proto_root: Path) -> list[str]:
    """The file names generate() writes for the protos under proto_root."""
    names = []
    for p in sorted((proto_root / PROTO_SUBDIR).glob("*.proto")):
        names += [f"{p.stem}_pb2.py", f"{p.stem}_pb2.pyi", f"{p.stem}_pb2_grpc.py"]
    return sorted(names)


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd() / "proto"
    for path in generate(root, HERE):
        print(path)

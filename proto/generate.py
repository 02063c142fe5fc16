"""Regenerate the Python stubs in proto/safeguard_proto from proto/safeguard/**/*.proto.

Usage: python proto/generate.py [OUTPUT_DIR]

The generated package is named ``safeguard_proto`` (not ``proto``: the PyPI package
proto-plus installs a top-level ``proto``), so protoc's ``safeguard.v1`` imports are
rewritten to ``safeguard_proto.v1``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc
import grpc_tools

PROTO_ROOT = Path(__file__).resolve().parent
DEFAULT_OUTPUT = PROTO_ROOT / "safeguard_proto"


def generate(output: Path = DEFAULT_OUTPUT) -> list[Path]:
    sources = sorted(PROTO_ROOT.glob("safeguard/**/*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(source) for source in sources],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        for generated in sorted(Path(tmp).glob("safeguard/**/*.py*")):
            relative = generated.relative_to(Path(tmp) / "safeguard")
            target = output / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            text = re.sub(r"\bfrom safeguard\.", "from safeguard_proto.", generated.read_text())
            target.write_text(text)
            written.append(target)
    for package in {output, *(path.parent for path in written)}:
        init = package / "__init__.py"
        if not init.exists():
            init.write_text("")
        written.append(init)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT):
        print(path)

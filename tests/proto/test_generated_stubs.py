"""The committed stubs are exactly what `python proto/generate.py` produces from the .proto files."""

import importlib.util
import sys
from pathlib import Path

from conftest import REPO

import safeguard_proto


def _generate_module():
    spec = importlib.util.spec_from_file_location("proto_generate", REPO / "proto" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_stubs_are_in_sync(tmp_path: Path) -> None:
    _generate_module().generate(tmp_path)
    committed = REPO / "proto" / "safeguard_proto"
    generated = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*.py*"))
    assert generated == sorted(path.relative_to(committed) for path in committed.rglob("*.py*") if "__pycache__" not in path.parts)
    for relative in generated:
        assert (tmp_path / relative).read_text() == (committed / relative).read_text(), (
            f"{relative} is stale: run `python proto/generate.py`"
        )


def test_the_generated_package_does_not_take_the_name_proto() -> None:
    assert Path(safeguard_proto.__file__).parent.name == "safeguard_proto"
    assert "proto" not in sys.modules or not hasattr(sys.modules["proto"], "v1")

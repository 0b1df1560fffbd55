"""The wheel's build hook: generate the gRPC stubs from ``proto/`` at build time and put
them in the wheel (``adapters/grpc/generated``), so that an installed ``iit`` serves
without ``make proto``. They are never committed: git ignores the folder, and this hook
generates into the build's own temporary folder, not the source tree."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class GenerateStubs(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no types
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        script = Path(self.root) / "scripts" / "gen_proto.py"
        spec = importlib.util.spec_from_file_location("gen_proto", script)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {script}")
        gen_proto = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen_proto)
        self._folder = Path(tempfile.mkdtemp(prefix="iit-stubs-"))
        out = self._folder / "generated"
        code = gen_proto.main(out)
        if code != 0:
            raise RuntimeError(f"generating the gRPC stubs failed (exit {code})")
        build_data["force_include"][str(out)] = "adapters/grpc/generated"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        folder = getattr(self, "_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

"""Vendor uPlot (the dashboard's charting library) from the npm registry into
``adapters/dashboard/static/vendor/uplot/``: the minified IIFE build, its CSS and its MIT
licence, checked against the tarball's pinned integrity. The files are committed, so the
dashboard runs from a fresh clone with no npm, no build step and no CDN (the node may run
offline); run this only to move to another version (change VERSION and INTEGRITY).

    uv run python scripts/vendor_uplot.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.6.32"
INTEGRITY = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
FILES = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "LICENSE",
}
TARGET = Path(__file__).resolve().parents[1] / "adapters" / "dashboard" / "static" / "vendor" / "uplot"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="uplot-") as scratch:
        packed = subprocess.run(  # noqa: S603 - a fixed command line
            ["npm", "pack", f"uplot@{VERSION}", "--json"],  # noqa: S607 - npm from PATH
            cwd=scratch,
            check=True,
            capture_output=True,
            text=True,
        )
        tarball = Path(scratch) / json.loads(packed.stdout)[0]["filename"]
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            print(f"uplot@{VERSION}: integrity {digest} is not the pinned {INTEGRITY}", file=sys.stderr)
            return 1
        TARGET.mkdir(parents=True, exist_ok=True)
        lines = [f"uplot {VERSION} from the npm registry, tarball {INTEGRITY}"]
        with tarfile.open(tarball) as archive:
            for member, name in FILES.items():
                source = archive.extractfile(member)
                assert source is not None, member
                data = source.read()
                (TARGET / name).write_bytes(data)
                lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
        (TARGET / "VENDORED.txt").write_text("\n".join(lines) + "\n")
    print(f"vendored uplot {VERSION} into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

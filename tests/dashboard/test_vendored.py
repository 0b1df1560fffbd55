"""The page needs nothing from outside: uPlot is the vendored npm release (hashes as
recorded by scripts/vendor_uplot.py, licence beside it), and no asset is fetched from
another host."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "adapters" / "dashboard" / "static"
VENDOR = STATIC / "vendor" / "uplot"


def test_the_vendored_files_are_the_recorded_release_with_its_licence():
    lines = (VENDOR / "VENDORED.txt").read_text().splitlines()
    assert lines[0].startswith("uplot 1.6.32 from the npm registry, tarball sha512-")
    recorded = dict(reversed(line.split("  ")) for line in lines[1:])
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (VENDOR / "LICENSE").read_text()


def test_the_page_loads_only_its_own_assets():
    html = (STATIC / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(s.startswith("/static/") for s in sources), sources
    for text in (html, (STATIC / "dashboard.js").read_text(), (STATIC / "dashboard.css").read_text()):
        assert not re.search(r"https?://", text)

"""Replace one marked section of docs/benchmarks.md, leaving the rest of the file alone.

Each benchmark script owns the text between its own `<!-- name:start -->` and
`<!-- name:end -->` markers; bench/run_all.py writes the file as a whole.
"""

from __future__ import annotations

import re
from pathlib import Path


def write_section(markdown: str, path: Path, start: str, end: str) -> None:
    """Create or replace the block between ``start`` and ``end`` in ``path``."""
    block = f"{start}\n{markdown}\n{end}"
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, "utf-8")

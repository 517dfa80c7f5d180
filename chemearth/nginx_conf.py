"""``deploy/nginx.conf`` with its ``@NAME@`` placeholders filled (deploy/README.md lists them):
used by the tile benchmark and the tests that run the real front server."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"


def filled(values: dict[str, str]) -> str:
    """The template with every placeholder replaced; raises ValueError naming any left over
    outside comments (a placeholder added to the template must be given here too)."""
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    left = sorted(set(re.findall(r"@[A-Z_]+@", code)))
    if left:
        raise ValueError(f"deploy/nginx.conf has placeholders not given: {', '.join(left)}")
    return text

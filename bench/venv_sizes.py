#!/usr/bin/env python3
"""Installed size of cibscope's runtime dependencies, and what leaving some of them out would save.

Run with the Python of a runtime-only install (``make demo``'s ``.venv`` before ``make test``, or
``python3 -m venv lean && lean/bin/pip install --no-compile -e .``)::

    lean/bin/python bench/venv_sizes.py
    lean/bin/python bench/venv_sizes.py --without fastapi uvicorn sqlalchemy cryptography zstandard

Sizes are the bytes of the files each installed distribution lists (its ``RECORD``, via
``importlib.metadata``), summed over the closure of ``cibscope``'s requirements (markers evaluated
without extras), in MiB. ``--without`` drops those direct requirements and prints what their
closure holds that the remaining requirements do not need. The venv's own files (the interpreter
links, pip, setuptools) and file-system blocks are not counted: ``du -sm .venv`` is larger.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
from pathlib import Path

from packaging.requirements import Requirement


def _name(n: str) -> str:
    return n.lower().replace("_", "-")


def installed() -> tuple[dict[str, md.Distribution], dict[str, list[str]]]:
    """Installed distributions by normalised name, and each one's requirements (no extras)."""
    dists = {_name(d.metadata["Name"]): d for d in md.distributions()}
    needs = {}
    for n, d in dists.items():
        reqs = [Requirement(r) for r in d.requires or []]
        needs[n] = [_name(r.name) for r in reqs if not r.marker or r.marker.evaluate({"extra": ""})]
    return dists, needs


def closure(roots: list[str], needs: dict[str, list[str]]) -> set[str]:
    """Installed distributions reachable from ``roots`` through requirements."""
    seen, stack = set(), list(roots)
    while stack:
        x = stack.pop()
        if x not in seen and x in needs:
            seen.add(x)
            stack += needs[x]
    return seen


def size_mib(d: md.Distribution) -> float:
    """MiB of the files ``d`` lists that exist."""
    return sum(Path(d.locate_file(f)).stat().st_size for f in d.files or [] if Path(d.locate_file(f)).exists()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--without", nargs="*", default=[], help="direct requirements of cibscope to leave out")
    ap.add_argument("--top", type=int, default=12, help="largest distributions listed")
    a = ap.parse_args()
    dists, needs = installed()
    sizes = {n: size_mib(dists[n]) for n in closure(["cibscope"], needs)}
    print(f"runtime closure: {len(sizes)} distributions, {sum(sizes.values()):.0f} MiB")
    for n, mib in sorted(sizes.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"  {n} {mib:.0f} MiB")
    if a.without:
        kept = closure([r for r in needs["cibscope"] if r not in {_name(w) for w in a.without}], needs)
        dropped = sorted(set(sizes) - kept, key=lambda n: -sizes[n])
        print(f"without {', '.join(a.without)}: {sum(sizes[n] for n in kept):.0f} MiB; left out "
              + ", ".join(f"{n} {sizes[n]:.1f}" for n in dropped))


if __name__ == "__main__":
    main()

"""Checks on text that arrived as JSON, shared by the hub and the web app.

JSON may escape a lone UTF-16 surrogate (``"\\ud800"``); Python decodes it into a ``str`` that UTF-8
cannot encode, so a database, a log line or a response body holding it fails later (an HTTP 500, or
a job started and audited whose request then failed). Callers refuse such text up front.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional


def surrogate_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot be stored (it holds a lone UTF-16 surrogate), or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a string holds a lone UTF-16 surrogate ({exc.reason} at {exc.start})"
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, f"{path}.<key>" if path else "<key>")
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def first_surrogate_problem(value: Any) -> Optional[str]:
    """``"<field>: <problem>"`` for the first string (key or value, at any depth of dicts and lists) of
    ``value`` that holds a lone surrogate, or None."""
    for path, s in _strings(value, ""):
        problem = surrogate_problem(s)
        if problem:
            return f"{(path or 'body').encode('ascii', 'backslashreplace').decode()}: {problem}"
    return None

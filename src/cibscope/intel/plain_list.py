"""Import a plain CSV list of handles, URLs and domains (for partners without STIX tooling).

Accepted files: one value per line, with or without a header, or a CSV with a header
naming a ``value`` column (also ``indicator``/``handle``/``url``/``domain``) and
optional ``platform`` and ``note`` columns. Each value's type is detected
(:func:`cibscope.intel.observables.classify`; defanged values are refanged):

* URL, domain, IP, e-mail, hash -> SCO + ``indicator``;
* profile URL (``https://x.com/NAME``) -> ``user-account``;
* ``@NAME`` or a bare handle with a ``platform`` (column, or the ``platform=`` argument)
  -> ``user-account`` with ``account_type`` = platform and ``account_login`` = NAME.

Anything else (prose, counts, a handle without a platform, an unparsable URL)
goes to the error list with its line. All indicators ``indicates`` one
``intrusion-set`` named after the list (``name=`` argument, default: the file name).
"""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path

from .observables import Observable, Text, classify
from .result import FileSummary, ImportIssue, ImportResult
from .stixobj import pattern_string, relationship, sco, sdo, stix_timestamp

VALUE_COLUMNS = ("value", "indicator", "indicator_value", "handle", "url", "domain", "account")
_HANDLE_RX = re.compile(r"^@?([A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})$")
#: platform names accepted in the ``platform`` column -> STIX account_type.
PLATFORM_ALIASES = {"x": "twitter", "twitter": "twitter", "telegram": "telegram", "tg": "telegram",
                    "facebook": "facebook", "fb": "facebook", "instagram": "instagram", "ig": "instagram",
                    "tiktok": "tiktok", "youtube": "youtube", "yt": "youtube", "vk": "vk", "reddit": "reddit",
                    "threads": "threads", "bluesky": "bluesky", "medium": "medium", "linkedin": "linkedin"}


class ListImportError(Exception):
    """The list file cannot be read (message names the file)."""


def _handle(value: str, platform: str | None) -> Observable | None:
    m = _HANDLE_RX.match(value.strip())
    if not m or not platform or (not value.startswith("@") and "." in value):
        return None
    login = m.group(1)
    a = sco("user-account", account_type=platform, account_login=login)
    pattern = (f"[user-account:account_type = {pattern_string(platform)} AND "
               f"user-account:account_login = {pattern_string(login)}]")
    return Observable("account", f"{platform}:{login}", a, pattern)


def import_plain_list(path: str | Path, *, platform: str | None = None, name: str | None = None,
                      created: datetime | None = None) -> ImportResult:
    """Import a CSV list of handles/URLs/domains.

    Parameters
    ----------
    path : str or Path
        CSV or text file, UTF-8.
    platform : str, optional
        Platform of bare handles without a ``platform`` column (``twitter``, ``telegram``, ...).
    name : str, optional
        Name of the intrusion-set the indicators indicate (default: the file stem).
    created : datetime, optional
        Timestamp of the objects (UTC; default: now).

    Returns
    -------
    ImportResult

    Raises
    ------
    ListImportError
        The file cannot be read as UTF-8 text.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ListImportError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    ts = stix_timestamp(created)
    default_platform = PLATFORM_ALIASES.get((platform or "").lower(), (platform or "").lower() or None)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = [(reader.line_num, cells) for cells in reader]
    first = [c.strip().lower() for c in rows[0][1]] if rows else []
    vcol = next((first.index(c) for c in VALUE_COLUMNS if c in first), None)
    has_header = vcol is not None
    vcol = vcol or 0
    pcol = first.index("platform") if has_header and "platform" in first else None
    ncol = next((first.index(c) for c in ("note", "notes", "comment") if has_header and c in first), None)
    res = ImportResult()
    summ = FileSummary(file=str(path), layout="list")
    iset = res.add(sdo("intrusion-set", ("list", str(path.resolve())), ts, name=name or path.stem,
                       description=f"Indicators from the list {path.name}."), summ)
    for line, cells in rows[1:] if has_header else rows:
        cells = [c.strip() for c in cells]
        if not any(cells):
            summ.blank_rows += 1
            continue
        summ.rows += 1
        value = cells[vcol] if vcol < len(cells) else ""
        plat = default_platform
        if pcol is not None and pcol < len(cells) and cells[pcol]:
            plat = PLATFORM_ALIASES.get(cells[pcol].lower(), cells[pcol].lower())
        note = cells[ncol] if ncol is not None and ncol < len(cells) else ""

        def fail(reason: str) -> None:
            summ.rows_failed += 1
            res.errors.append(ImportIssue(str(path), line, "value", reason, value))

        if not value:
            fail("empty value")
            continue
        obs = _handle(value, plat) if value.startswith("@") or plat else None
        if obs is None:
            try:
                got = classify(value)
            except ValueError as exc:
                fail(str(exc))
                continue
            if isinstance(got, Text):
                fail("a count, not an indicator" if got.is_count else
                     ("a handle needs a platform (platform column or --platform)" if _HANDLE_RX.match(value)
                      else "not a handle, URL, domain, IP or e-mail address"))
                continue
            obs = got
        res.add(obs.sco, summ)
        desc = " ".join(x for x in (f"From {path.name} (line {line}).", note, obs.comment) if x)
        ind = sdo("indicator", ("list", str(path.resolve()), obs.pattern), ts, name=obs.value, description=desc,
                  pattern=obs.pattern, pattern_type="stix", valid_from=ts, indicator_types=["malicious-activity"])
        res.add(ind, summ)
        res.add(relationship(ind["id"], "indicates", iset, ts), summ)
        summ.rows_imported += 1
    res.summaries.append(summ)
    return res

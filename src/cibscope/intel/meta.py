"""Import Meta's threat-research indicator files (github.com/facebook/threat-research) as STIX 2.1.

Three layouts are read, detected from the file (see ``docs/intel.md`` for the full mapping):

``meta-classic`` (2020-2022, ``.csv``/``.json``)
    Columns ``indicator_type, indicator_value, comment, ds``. The declared type decides the
    object (``domain_name`` -> ``domain-name``, ``*_url`` -> ``url`` or ``user-account``,
    ``ip`` -> ``ipv4-addr``, ``md5``/``sha256`` -> ``file``, app ids -> ``software``); a value
    that does not parse as its declared type is an error.
``meta-killchain`` (2023+, ``.csv``)
    Columns ``Tactic, Technique, Procedure, Indicator`` and an optional comments column
    (``Comments``/``Note``/``Notes``; header cells may carry trailing spaces). Indicators become
    SCO + ``indicator``; counts ("76 accounts") and prose become ``note`` objects; the procedure
    (``0.9.4 Acquiring X / Twitter accounts``) becomes an ``attack-pattern`` of the Meta Online
    Operations Kill Chain that the network ``uses``.
``meta-markdown`` (H2 2025+, ``.md``)
    A title ``# Indicators of Compromise: <network>``, a summary and a table
    ``| Indicator Type | Indicator Value |``.

Every file is one network or report: it becomes an ``intrusion-set`` (id from the normalised file
name, so the CSV and Markdown copies of an H1 2026 network share one intrusion-set), every
indicator ``indicates`` it, and a ``report`` lists all objects of the file. The kill-chain
catalogue ``Online_Operations_Killchain-TTPs.csv`` is read by :func:`import_killchain_ttps`.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from .observables import Observable, Text, classify
from .result import FileSummary, ImportIssue, ImportResult
from .stixobj import pattern_string, relationship, sco, sdo, sdo_id, stix_timestamp

#: ``kill_chain_name`` of Meta's Online Operations Kill Chain in ``kill_chain_phases`` and the
#: ``source_name`` of its procedure ids in ``external_references``.
META_KILL_CHAIN = "meta-online-operations-kill-chain"
META_SOURCE = "meta-threat-research"

CLASSIC_COLUMNS = ("indicator_type", "indicator_value", "comment", "ds")
KILLCHAIN_COLUMNS = ("tactic", "technique", "procedure", "indicator")
_NOTE_COLUMNS = {"comments", "commernts", "note", "notes"}
_PROC_RX = re.compile(r"^\s*(\d+(?:\.\d+)*)\.?\s+(.+?)\s*$", re.S)
_MD_TITLE_RX = re.compile(r"^#\s+(?:Indicators of Compromise:\s*)?(.+?)\s*$")

#: classic ``indicator_type`` -> observable kinds it may hold.
CLASSIC_TYPES: dict[str, set[str]] = {
    "domain_name": {"domain"}, "url": {"url", "account"}, "cib_url": {"url", "account"},
    "phishing_url": {"url", "account"}, "telegram_url": {"url", "account"}, "ip": {"ipv4", "ipv6"},
    "ip_address": {"ipv4", "ipv6"}, "md5": {"hash"}, "sha1": {"hash"}, "sha256": {"hash"},
    "android_package_name": {"software"}, "ios_app_id": {"software"},
}
#: Markdown ``Indicator Type`` -> observable kinds it may hold.
MARKDOWN_TYPES: dict[str, set[str]] = {
    "domain": {"domain", "url", "account"}, "url": {"url", "account", "domain"},
    "social media account": {"account", "url"}, "proxy ip": {"ipv4", "ipv6"}, "ip": {"ipv4", "ipv6"},
    "email": {"email"},
}


class MetaImportError(Exception):
    """A whole file cannot be read as any Meta layout (message names the file)."""


def slug(text: str) -> str:
    """Lower-case hyphenated form used for ``phase_name`` and ids (``"0. Acquiring assets"`` -> ``acquiring-assets``)."""
    text = re.sub(r"^\s*\d+(?:\.\d+)*\.?\s*", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def network_key(path: Path) -> str:
    """Normalised network key of a file name, shared by its CSV and Markdown copies.

    ``Q4-1_2026_GithubIOCs - H1_2026_RUSSIA_BASED_CIB_NETWORK_2.csv`` and
    ``meta-h1-2026-russia-based-cib-network-2.md`` both give ``h1-2026-russia-based-cib-network-2``.
    """
    stem = path.stem.strip()
    stem = re.sub(r"^Q[\d\-]+_\d{4}_GithubIOCs\s*-\s*", "", stem, flags=re.I)
    stem = re.sub(r"^meta-", "", stem, flags=re.I)
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")


def _network_name(path: Path) -> str:
    stem = re.sub(r"^Q[\d\-]+_\d{4}_GithubIOCs\s*-\s*", "", path.stem.strip(), flags=re.I)
    return re.sub(r"[\s_]+", " ", stem).strip()


class _FileImport:
    """State of one file's import: the intrusion-set, the report's object list, the summary."""

    def __init__(self, path: Path, layout: str, created: str, name: str, description: str = "") -> None:
        self.path, self.created = path, created
        self.file = str(path)
        self.result = ImportResult()
        self.summary = FileSummary(file=self.file, layout=layout)
        self.key = network_key(path)
        self.intrusion_set = self.add(sdo(
            "intrusion-set", ("meta", self.key), created, name=name,
            description=description or f"Network or report published by Meta in {path.name}.",
            external_references=[{"source_name": META_SOURCE, "description": f"indicator file {path.name}"}]))
        self._uses: set[str] = set()

    def add(self, obj: dict[str, Any]) -> str:
        return self.result.add(obj, self.summary)

    def error(self, row: int | None, fld: str, reason: str, raw: str) -> None:
        self.summary.rows_failed += 1
        self.result.errors.append(ImportIssue(self.file, row, fld, reason, (raw or "")[:300]))

    def classify(self, row: int, fld: str, value: str) -> Observable | Text | None:
        """:func:`classify` the cell; on failure record the error and return None."""
        try:
            return classify(value)
        except ValueError as exc:
            self.error(row, fld, str(exc), value)
            return None

    def attack_pattern(self, procedure: str, tactic: str) -> str | None:
        """The kill-chain attack-pattern of a procedure cell, added once, that the network ``uses``."""
        m = _PROC_RX.match(procedure or "")
        if not m:
            return None
        ap = meta_attack_pattern(m.group(1), m.group(2), tactic, self.created)
        oid = self.add(ap)
        if oid not in self._uses:
            self._uses.add(oid)
            self.add(relationship(self.intrusion_set, "uses", oid, self.created))
        return oid

    def indicator(self, obs: Observable, row: int, *, procedure: str = "", tactic: str = "", context: str = "",
                  indicator_type: str = "malicious-activity") -> None:
        """SCO + indicator (+ ``indicates`` the intrusion-set) for one observable of one row."""
        self.add(obs.sco)
        key = ("meta", self.key, obs.pattern)
        phases = [{"kill_chain_name": META_KILL_CHAIN, "phase_name": slug(tactic)}] if slug(tactic) else []
        m = _PROC_RX.match(procedure or "")
        refs = [{"source_name": META_KILL_CHAIN, "external_id": m.group(1), "description": m.group(2)}] if m else []
        existing = self.result.get(sdo_id("indicator", *key))
        if existing is not None:  # same value twice in one file: one indicator, phases/procedures merged
            for p in phases:
                if p not in existing.setdefault("kill_chain_phases", []):
                    existing["kill_chain_phases"].append(p)
            for r in refs:
                if r not in existing.setdefault("external_references", []):
                    existing["external_references"].append(r)
            return
        desc = " ".join(x for x in (
            f"Published by Meta in {self.path.name} (row {row}).", context,
            obs.comment, f"({'; '.join(obs.changes)})" if obs.changes else "") if x)
        ind = sdo("indicator", key, self.created, name=obs.value, description=desc, pattern=obs.pattern,
                  pattern_type="stix", valid_from=self.created, indicator_types=[indicator_type],
                  kill_chain_phases=phases, external_references=refs)
        self.add(ind)
        self.add(relationship(ind["id"], "indicates", self.intrusion_set, self.created))

    def note(self, text: Text, row: int, ap_id: str | None, abstract: str) -> None:
        refs = [self.intrusion_set] + ([ap_id] if ap_id else [])
        self.add(sdo("note", ("meta", self.key, str(row)), self.created, abstract=abstract[:200],
                     content=text.text, object_refs=refs,
                     labels=["asset-count" if text.is_count else "observation"]))

    def finish(self, published: str | None = None) -> ImportResult:
        ids = [o["id"] for o in self.result.objects]
        self.add(sdo("report", ("meta", self.file), self.created,
                     name=f"Meta threat-research indicators: {self.path.name}",
                     published=published or self.created, report_types=["threat-actor", "indicator"],
                     object_refs=ids,
                     external_references=[{"source_name": META_SOURCE, "description": self.file}]))
        self.result.summaries.append(self.summary)
        return self.result


def meta_attack_pattern(proc_id: str, name: str, tactic: str, created: str) -> dict[str, Any]:
    """The ``attack-pattern`` of one Meta kill-chain procedure (id stable over ``proc_id``)."""
    phases = [{"kill_chain_name": META_KILL_CHAIN, "phase_name": slug(tactic)}] if slug(tactic) else []
    return sdo("attack-pattern", ("meta-kill-chain", proc_id), created,
               name=" ".join(name.split()), kill_chain_phases=phases,
               external_references=[{"source_name": META_KILL_CHAIN, "external_id": proc_id}])


# --- reading ------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetaImportError(f"{path}: not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise MetaImportError(f"{path}: cannot be read ({exc})") from exc


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the record's first line, cells) for every CSV record after the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for i, cells in enumerate(reader):
        if i:
            yield start, cells
        start = reader.line_num + 1


def detect_layout(path: Path) -> str:
    """``meta-classic``, ``meta-killchain``, ``meta-ttps`` or ``meta-markdown`` for ``path``.

    Raises
    ------
    MetaImportError
        The file has none of these layouts.
    """
    suffix = path.suffix.lower()
    if suffix == ".md":
        return "meta-markdown"
    text = _read_text(path)
    if suffix == ".json":
        return "meta-classic"
    header = [c.strip().lower() for c in next(csv.reader(io.StringIO(text)), [])]
    if tuple(header[:4]) == CLASSIC_COLUMNS[:4] or tuple(header[:2]) == CLASSIC_COLUMNS[:2]:
        return "meta-classic"
    if tuple(header[:4]) == KILLCHAIN_COLUMNS:
        return "meta-killchain"
    if tuple(header) == KILLCHAIN_COLUMNS[:3]:
        return "meta-ttps"
    raise MetaImportError(f"{path}: header {header!r} is none of the Meta layouts "
                          f"({', '.join(CLASSIC_COLUMNS)} / {', '.join(KILLCHAIN_COLUMNS)}[, Notes] / Markdown)")


def import_meta(path: str | Path, *, created: datetime | None = None) -> ImportResult:
    """Import one Meta threat-research file (any of the three layouts, or the kill-chain catalogue).

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.json`` or ``.md`` file of github.com/facebook/threat-research.
    created : datetime, optional
        ``created``/``modified``/``valid_from`` of the objects (UTC; default: now).

    Returns
    -------
    ImportResult
        Objects, per-row errors and one :class:`FileSummary`.

    Raises
    ------
    MetaImportError
        The file cannot be read or has no known layout.
    """
    path = Path(path)
    ts = stix_timestamp(created)
    layout = detect_layout(path)
    if layout == "meta-markdown":
        return _import_markdown(path, ts)
    if layout == "meta-killchain":
        return _import_killchain(path, ts)
    if layout == "meta-ttps":
        return import_killchain_ttps(path, created=created)
    return _import_classic(path, ts)


def import_meta_folder(folder: str | Path, *, created: datetime | None = None) -> ImportResult:
    """Import every ``.csv``, ``.json`` and ``.md`` file under ``folder`` (sorted), merged into one result."""
    out = ImportResult()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.suffix.lower() in (".csv", ".json", ".md"):
            out.extend(import_meta(p, created=created))
    return out


def _import_classic(path: Path, ts: str) -> ImportResult:
    text = _read_text(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetaImportError(f"{path}: invalid JSON ({exc})") from exc
        if not isinstance(data, list):
            raise MetaImportError(f"{path}: expected a JSON list of indicator records")
        records = [(i + 1, r if isinstance(r, dict) else {}) for i, r in enumerate(data)]
    else:
        records = [(line, dict(zip(CLASSIC_COLUMNS, [c.strip() for c in cells])))
                   for line, cells in _csv_rows(text)]
    fi = _FileImport(path, "meta-classic", ts, name=f"Meta report {_network_name(path)}")
    dates = []
    for row, rec in records:
        itype = (rec.get("indicator_type") or "").strip().lower()
        value = (rec.get("indicator_value") or "").strip()
        comment = (rec.get("comment") or "").strip()
        if not itype and not value and not comment:
            fi.summary.blank_rows += 1
            continue
        fi.summary.rows += 1
        if itype not in CLASSIC_TYPES:
            fi.error(row, "indicator_type", f"unknown indicator_type {itype!r}", value)
            continue
        if rec.get("ds"):
            dates.append(str(rec["ds"]).strip())
        if itype in ("android_package_name", "ios_app_id"):
            if not value or " " in value:
                fi.error(row, "indicator_value", f"not a valid {itype}", value)
                continue
            what = "Android package name" if itype == "android_package_name" else "iOS App Store id"
            obs = Observable("software", value, sco("software", name=value),
                             f"[software:name = {pattern_string(value)}]", comment=f"{what}; {comment}")
        else:
            obs = fi.classify(row, "indicator_value", value)
            if obs is None:
                continue
            if isinstance(obs, Text) or obs.kind not in CLASSIC_TYPES[itype]:
                got = "text" if isinstance(obs, Text) else obs.kind
                fi.error(row, "indicator_value", f"declared {itype} but the value parses as {got}", value)
                continue
            if not obs.comment:
                obs.comment = comment
            else:
                obs.comment = f"{obs.comment}; {comment}"
        fi.indicator(obs, row, context=f"Meta type {itype}.")
        fi.summary.rows_imported += 1
    published = None
    if dates:
        try:
            published = stix_timestamp(datetime.fromisoformat(max(dates) + "T00:00:00+00:00"))
        except ValueError:
            published = None
    return fi.finish(published)


def _import_killchain(path: Path, ts: str) -> ImportResult:
    text = _read_text(path)
    fi = _FileImport(path, "meta-killchain", ts, name=_network_name(path))
    header = [c.strip().lower() for c in next(csv.reader(io.StringIO(text)))]
    note_col = next((i for i, h in enumerate(header) if h in _NOTE_COLUMNS), None)
    for row, cells in _csv_rows(text):
        cells = [c.strip() for c in cells]
        if not any(cells):
            fi.summary.blank_rows += 1
            continue
        fi.summary.rows += 1
        cells += [""] * (len(header) - len(cells))
        tactic, technique, procedure, value = cells[:4]
        notes = cells[note_col] if note_col is not None and note_col < len(cells) else ""
        extra = [c for i, c in enumerate(cells) if i >= len(header) and c]
        if extra:
            notes = "; ".join([notes] + extra) if notes else "; ".join(extra)
        ap_id = fi.attack_pattern(procedure, tactic) or fi.attack_pattern(technique, tactic)
        if not value:
            if ap_id is None:
                fi.error(row, "Indicator", "empty Indicator and no procedure id", ",".join(cells))
            else:  # "the network used this procedure": its object is the intrusion-set `uses` relationship
                fi.summary.rows_imported += 1
            continue
        obs = fi.classify(row, "Indicator", value)
        if obs is None:
            continue
        if isinstance(obs, Text):
            if notes:
                obs = Text(f"{obs.text}\n\n{notes}", obs.is_count)
            fi.note(obs, row, ap_id, procedure or technique or tactic or "Meta indicator note")
        else:
            fi.indicator(obs, row, procedure=procedure or technique, tactic=tactic,
                         context=f"Procedure: {procedure or technique}." + (f" Note: {notes}" if notes else ""))
        fi.summary.rows_imported += 1
    return fi.finish()


def _md_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _import_markdown(path: Path, ts: str) -> ImportResult:
    lines = _read_text(path).splitlines()
    title = next((m.group(1) for ln in lines if (m := _MD_TITLE_RX.match(ln))), _network_name(path))
    summary, section = [], None
    for ln in lines:
        if ln.startswith("## "):
            section = ln[3:].strip().lower()
        elif section and "summary" in section and ln.strip() and not ln.startswith("#"):
            summary.append(ln.strip())
    fi = _FileImport(path, "meta-markdown", ts, name=title, description=" ".join(summary)[:4000])
    header_at = next((i for i, ln in enumerate(lines)
                      if ln.lstrip().startswith("|") and "indicator value" in ln.lower()), None)
    if header_at is None:
        stated = next((ln.strip(" *_") for ln in lines if re.search(r"\bno (?:iocs|indicators)\b", ln, re.I)), None)
        if stated is None:
            raise MetaImportError(f"{path}: no '| Indicator Type | Indicator Value |' table")
        fi.summary.notes.append(f"no indicator table; the page says: {stated}")
        return fi.finish()
    for i in range(header_at + 1, len(lines)):
        ln = lines[i]
        if not ln.lstrip().startswith("|"):
            if ln.strip():
                break
            continue
        cells = _md_cells(ln)
        if all(re.fullmatch(r":?-+:?", c) for c in cells if c):
            continue  # separator row
        row = i + 1
        if not any(cells):
            fi.summary.blank_rows += 1
            continue
        fi.summary.rows += 1
        if len(cells) < 2:
            fi.error(row, "Indicator Value", "row has fewer than 2 cells", ln)
            continue
        itype, value = cells[0], cells[1]
        kinds = MARKDOWN_TYPES.get(itype.lower())
        if kinds is None:
            fi.error(row, "Indicator Type", f"unknown Indicator Type {itype!r}", ln)
            continue
        obs = fi.classify(row, "Indicator Value", value)
        if obs is None:
            continue
        if isinstance(obs, Text) or obs.kind not in kinds:
            got = "text" if isinstance(obs, Text) else obs.kind
            fi.error(row, "Indicator Value", f"listed as {itype} but the value parses as {got}", value)
            continue
        fi.indicator(obs, row, context=f"Listed as {itype}.",
                     indicator_type="anonymization" if "proxy" in itype.lower() else "malicious-activity")
        fi.summary.rows_imported += 1
    return fi.finish()


def import_killchain_ttps(path: str | Path, *, created: datetime | None = None) -> ImportResult:
    """Import Meta's Online Operations Kill Chain catalogue (``Tactic,Technique,Procedure``) as attack-patterns.

    Each procedure (``0.9.4 Acquiring X / Twitter accounts``) becomes one ``attack-pattern`` with
    ``kill_chain_phases`` = its tactic and ``external_references`` = its procedure id; the ids are
    the same as those made by the indicator importers, so both merge.

    Raises
    ------
    MetaImportError
        The file cannot be read.
    """
    path = Path(path)
    ts = stix_timestamp(created)
    text = _read_text(path)
    res = ImportResult()
    summ = FileSummary(file=str(path), layout="meta-ttps")
    for row, cells in _csv_rows(text):
        cells = [c.strip() for c in cells] + ["", "", ""]
        if not any(cells):
            summ.blank_rows += 1
            continue
        summ.rows += 1
        tactic, technique, procedure = cells[:3]
        m = _PROC_RX.match(procedure)
        if not m:
            summ.rows_failed += 1
            res.errors.append(ImportIssue(str(path), row, "Procedure",
                                          "no procedure id (expected '<n.n.n> <name>')", ",".join(cells[:3])))
            continue
        res.add(meta_attack_pattern(m.group(1), m.group(2), tactic, ts), summ)
        summ.rows_imported += 1
    res.summaries.append(summ)
    return res

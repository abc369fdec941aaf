"""The DISARM Red framework (disinformation TTPs) as a catalogue keyed by DISARM id + version.

DISARM's STIX ids are not stable across releases (81 technique ids changed between v1.5 and
v1.6), so everything here is keyed by the DISARM id (``T0049.002``) and the framework version
(``"1.6"``); the STIX id of a release's bundle is kept only as an attribute.

Sources (github.com/DISARMFoundation/DISARMframeworks, CC BY-SA 4.0):

* ``generated_files/DISARM_STIX/DISARM.json``: the release's STIX 2.1 bundle (391 attack-patterns
  in v1.6, ``external_references[0].external_id`` = DISARM id);
* ``DISARM_MASTER_DATA/DISARM_FRAMEWORKS_MASTER.xlsx``: sheets ``techniques`` (``disarm_id, name,
  tactic_id, summary, changes from v0.1``) and ``tactics``;
* optionally an older release's technique list (MISP galaxy ``disarm-techniques.json``) to name
  the ids a release removed.

Ids removed in a release map to successors where the framework data says so: a technique's
summary "covers behaviours previously documented by T0104.005" / "previously used the ID T0019"
/ "used the ID T0099", or its change note "Split from T0001". Removed ids with no such statement
(T0007, T0090 in v1.6) are reported as withdrawn.

:meth:`DisarmCatalogue.load` reads the catalogue shipped with cibscope
(``intel/data/disarm_red_v<version>.json``, built by :meth:`DisarmCatalogue.from_sources`), so
tagging works without the source files.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from .result import ImportIssue, ImportResult
from .stix_bundle import import_stix_bundle

DISARM_BUNDLE = Path("generated_files/DISARM_STIX/DISARM.json")
DISARM_XLSX = Path("DISARM_MASTER_DATA/DISARM_FRAMEWORKS_MASTER.xlsx")
_ID_RX = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_SUCCESSOR_RXS = [re.compile(r"previously documented by (T\d{4}(?:\.\d{3})?)", re.I),
                  re.compile(r"used the ID (T\d{4}(?:\.\d{3})?)", re.I)]
_SPLIT_RX = re.compile(r"split from (T\d{4}(?:\.\d{3})?)", re.I)


class DisarmError(Exception):
    """DISARM sources missing or inconsistent, or an unknown framework version."""


class WithdrawnTechniqueError(KeyError):
    """The id was removed from this framework version without a successor."""


@dataclass(frozen=True)
class Technique:
    """One DISARM Red technique of one framework version.

    Attributes
    ----------
    disarm_id : str
        ``T0049`` or sub-technique ``T0049.002``.
    version : str
        Framework version, e.g. ``"1.6"``.
    name, description : str
    tactic_id, tactic_name : str
        ``TA17``, ``Maximise Exposure``.
    stix_id : str
        The attack-pattern id in that release's STIX bundle (changes between releases: never a key).
    """

    disarm_id: str
    version: str
    name: str
    tactic_id: str
    tactic_name: str
    description: str
    stix_id: str = ""

    @property
    def parent_id(self) -> str | None:
        """``T0049`` for ``T0049.002``; None for a top-level technique."""
        return self.disarm_id.split(".")[0] if "." in self.disarm_id else None


@dataclass(frozen=True)
class RetiredTechnique:
    """An id that existed before ``version`` and is not in it.

    ``successors`` lists the ids that replace it (empty: withdrawn); ``evidence`` quotes the
    framework text that says so.
    """

    disarm_id: str
    version: str
    name: str
    successors: tuple[str, ...] = ()
    evidence: str = ""

    @property
    def withdrawn(self) -> bool:
        """True when no successor is known."""
        return not self.successors


@dataclass
class DisarmCatalogue:
    """DISARM Red techniques of one framework version, keyed by DISARM id.

    Attributes
    ----------
    version : str
    techniques : dict of str to Technique
    tactics : dict of str to str
        ``TA01`` -> ``Plan Strategy``.
    retired : dict of str to RetiredTechnique
        Ids known from older releases or stale references that are not in this version.
    source : dict
        Provenance: files, commit, licence.
    """

    version: str
    techniques: dict[str, Technique]
    tactics: dict[str, str]
    retired: dict[str, RetiredTechnique] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    # --- lookup ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.techniques)

    def __contains__(self, disarm_id: str) -> bool:
        return disarm_id in self.techniques

    def get(self, disarm_id: str) -> Technique:
        """The technique with this id in this version.

        Raises
        ------
        WithdrawnTechniqueError
            The id was removed without successor.
        KeyError
            The id was replaced (the message names the successors) or is unknown.
        """
        t = self.techniques.get(disarm_id)
        if t is not None:
            return t
        r = self.retired.get(disarm_id)
        if r is None:
            raise KeyError(f"{disarm_id} is not a DISARM Red v{self.version} technique")
        if r.withdrawn:
            raise WithdrawnTechniqueError(f"{disarm_id} ({r.name}) was withdrawn before DISARM v{self.version}")
        raise KeyError(f"{disarm_id} is not in DISARM v{self.version}; successors: {', '.join(r.successors)}")

    def lookup(self, disarm_id: str) -> Technique | RetiredTechnique:
        """The technique, or its :class:`RetiredTechnique` record (never raises for known ids).

        Raises
        ------
        KeyError
            The id is unknown to this catalogue.
        """
        if disarm_id in self.techniques:
            return self.techniques[disarm_id]
        if disarm_id in self.retired:
            return self.retired[disarm_id]
        raise KeyError(f"{disarm_id} is not a DISARM Red v{self.version} technique")

    def resolve(self, disarm_id: str) -> list[Technique]:
        """Current techniques for an id: itself, or its successors; ``[]`` if withdrawn.

        Raises
        ------
        KeyError
            The id is unknown.
        """
        item = self.lookup(disarm_id)
        if isinstance(item, Technique):
            return [item]
        return [self.techniques[s] for s in item.successors if s in self.techniques]

    def list(self, tactic_id: str | None = None) -> list[Technique]:
        """All techniques (optionally of one tactic), sorted by id."""
        return sorted((t for t in self.techniques.values() if tactic_id in (None, t.tactic_id)),
                      key=lambda t: t.disarm_id)

    def attack_pattern_ref(self, disarm_id: str) -> dict[str, str]:
        """``external_references`` entry identifying a technique by id + version (for ``uses`` exports)."""
        t = self.get(disarm_id)
        return {"source_name": "DISARM", "external_id": t.disarm_id,
                "description": f"DISARM Red framework v{self.version}: {t.name}",
                "url": f"https://github.com/DISARMFoundation/DISARMframeworks/blob/main/generated_pages/"
                       f"techniques/{t.disarm_id}.md"}

    # --- persistence ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (the packaged catalogue format)."""
        return {"framework": "DISARM Red", "version": self.version, "source": self.source,
                "tactics": self.tactics,
                "techniques": [asdict(t) for t in self.list()],
                "retired": [dict(asdict(r), successors=list(r.successors))
                            for r in sorted(self.retired.values(), key=lambda r: r.disarm_id)]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DisarmCatalogue":
        """Inverse of :meth:`to_json`."""
        techs = {t["disarm_id"]: Technique(**t) for t in data["techniques"]}
        retired = {r["disarm_id"]: RetiredTechnique(**dict(r, successors=tuple(r["successors"])))
                   for r in data.get("retired", [])}
        return cls(version=data["version"], techniques=techs, tactics=dict(data["tactics"]),
                   retired=retired, source=data.get("source", {}))

    @classmethod
    def load(cls, version: str = "1.6", path: str | Path | None = None) -> "DisarmCatalogue":
        """Load the catalogue of a framework version (shipped with cibscope, or from ``path``).

        Raises
        ------
        DisarmError
            No catalogue for that version.
        """
        if path is None:
            res = resources.files("cibscope.intel").joinpath(f"data/disarm_red_v{version}.json")
            if not res.is_file():
                raise DisarmError(f"no DISARM Red catalogue for version {version!r} is shipped")
            data = json.loads(res.read_text(encoding="utf-8"))
        else:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != version:
            raise DisarmError(f"catalogue is version {data.get('version')!r}, not {version!r}")
        return cls.from_json(data)

    @classmethod
    def from_sources(cls, root: str | Path, version: str = "1.6",
                     previous: Iterable[str | Path] = ()) -> "DisarmCatalogue":
        """Build the catalogue from a DISARMframeworks checkout.

        Parameters
        ----------
        root : path
            Folder with ``generated_files/DISARM_STIX/DISARM.json`` and
            ``DISARM_MASTER_DATA/DISARM_FRAMEWORKS_MASTER.xlsx``.
        version : str
            The version these files are (the data carries no version field).
        previous : paths
            Technique lists of older releases (MISP galaxy ``disarm-techniques.json``), to name
            removed ids.

        Raises
        ------
        DisarmError
            A source is missing, or the bundle and the spreadsheet disagree on the technique ids.
        """
        root = Path(root)
        bundle_t = _bundle_techniques(root / DISARM_BUNDLE)
        sheet = _sheet_techniques(root / DISARM_XLSX)
        tactics = _sheet_tactics(root / DISARM_XLSX)
        if set(bundle_t) != set(sheet):
            raise DisarmError(f"{root}: DISARM.json and the techniques sheet disagree: only in bundle "
                              f"{sorted(set(bundle_t) - set(sheet))[:10]}, only in sheet "
                              f"{sorted(set(sheet) - set(bundle_t))[:10]}")
        techs = {}
        for tid, row in sheet.items():
            stix_id, bname, bdesc = bundle_t[tid]
            techs[tid] = Technique(disarm_id=tid, version=version, name=row["name"] or bname,
                                   tactic_id=row["tactic_id"], tactic_name=tactics.get(row["tactic_id"], ""),
                                   description=row["summary"] or bdesc, stix_id=stix_id)
        successors: dict[str, list[str]] = {}
        evidence: dict[str, list[str]] = {}
        for tid, row in sorted(sheet.items()):
            texts = [(row["summary"] or "", _SUCCESSOR_RXS), (row["changes"] or "", [_SPLIT_RX])]
            for text, rxs in texts:
                for rx in rxs:
                    for m in rx.finditer(text):
                        old = m.group(1)
                        if old not in techs and tid not in successors.get(old, []):
                            successors.setdefault(old, []).append(tid)
                            evidence.setdefault(old, []).append(f"{tid}: \"{m.group(0)}\"")
        names: dict[str, str] = {}
        for p in previous:
            names.update({k: v for k, v in _galaxy_techniques(Path(p)).items() if k not in techs})
        for old in _stale_references(root / DISARM_XLSX) - set(techs):
            names.setdefault(old, "")
        retired = {}
        for old in sorted(set(names) | set(successors)):
            retired[old] = RetiredTechnique(disarm_id=old, version=version, name=names.get(old, ""),
                                            successors=tuple(successors.get(old, ())),
                                            evidence="; ".join(evidence.get(old, [])))
        source = {"repository": "github.com/DISARMFoundation/DISARMframeworks", "licence": "CC BY-SA 4.0",
                  "files": [str(DISARM_BUNDLE), str(DISARM_XLSX)] + [Path(p).name for p in previous],
                  "attribution": "DISARM Foundation, DISARM Red framework; built by cibscope.intel.disarm"}
        return cls(version=version, techniques=techs, tactics=tactics, retired=retired, source=source)


# --- source readers -----------------------------------------------------------------------------
def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DisarmError(f"{path}: cannot read the {what} ({exc})") from exc


def _bundle_techniques(path: Path) -> dict[str, tuple[str, str, str]]:
    data = _read_json(path, "DISARM STIX bundle")
    out = {}
    for o in data.get("objects", []):
        if o.get("type") != "attack-pattern":
            continue
        ext = next((r.get("external_id") for r in o.get("external_references", []) if r.get("external_id")), None)
        if not ext or not _ID_RX.match(ext):
            raise DisarmError(f"{path}: attack-pattern {o.get('id')} has no DISARM external_id")
        out[ext] = (o["id"], o.get("name", ""), o.get("description", ""))
    return out


def _sheet_rows(path: Path, sheet: str) -> list[dict[str, Any]]:
    try:
        import openpyxl
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise DisarmError("openpyxl is needed to read the DISARM spreadsheets") from exc
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError) as exc:
        raise DisarmError(f"{path}: cannot read the spreadsheet ({exc})") from exc
    try:
        rows = list(wb[sheet].iter_rows(values_only=True))
    except KeyError as exc:
        raise DisarmError(f"{path}: no sheet {sheet!r}") from exc
    finally:
        wb.close()
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    return [dict(zip(header, r)) for r in rows[1:] if r and r[0]]


def _sheet_techniques(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for r in _sheet_rows(path, "techniques"):
        tid = str(r["disarm_id"]).strip()
        if _ID_RX.match(tid):
            out[tid] = {"name": (r.get("name") or "").strip(), "tactic_id": (r.get("tactic_id") or "").strip(),
                        "summary": (r.get("summary") or "").strip(), "changes": r.get("changes from v0.1") or ""}
    return out


def _sheet_tactics(path: Path) -> dict[str, str]:
    return {str(r["disarm_id"]).strip(): (r.get("name") or "").strip() for r in _sheet_rows(path, "tactics")}


def _stale_references(path: Path) -> set[str]:
    """Technique ids cited in the countermeasure/detection sheets (may include removed ids)."""
    ids: set[str] = set()
    for sheet in ("countermeasures", "detections"):
        for r in _sheet_rows(path, sheet):
            for v in r.values():
                if isinstance(v, str):
                    ids.update(re.findall(r"\bT\d{4}(?:\.\d{3})?\b", v))
    return ids


def _galaxy_techniques(path: Path) -> dict[str, str]:
    data = _read_json(path, "MISP galaxy")
    out = {}
    for v in data.get("values", []):
        eid = (v.get("meta") or {}).get("external_id")
        eid = eid[0] if isinstance(eid, list) and eid else eid
        if isinstance(eid, str) and _ID_RX.match(eid):
            out[eid] = v.get("value", "").split(" - ", 1)[-1].strip()
    return out


# --- importer -----------------------------------------------------------------------------------
def import_disarm(path: str | Path, *, version: str = "1.6", previous: Iterable[str | Path] = (),
                  created: datetime | None = None) -> ImportResult:
    """Import the DISARM Red framework: its STIX bundle (all objects kept) plus a catalogue check.

    Parameters
    ----------
    path : path
        The DISARMframeworks folder, or its ``DISARM.json`` (the spreadsheets are then looked
        up two folders above).
    version : str
        Framework version of the files.
    previous : paths
        Older technique lists (MISP galaxy) naming removed ids.
    created : datetime, optional
        Unused (the bundle's own timestamps are kept); accepted for a uniform importer signature.

    Returns
    -------
    ImportResult
        The bundle's objects; the summary notes the technique count of the bundle and of the
        spreadsheet, and every retired id with its successors or "withdrawn".

    Raises
    ------
    DisarmError
        Sources missing or inconsistent.
    """
    path = Path(path)
    root = path if path.is_dir() else path.parents[2]
    res = import_stix_bundle(root / DISARM_BUNDLE, layout="disarm")
    summ = res.summaries[-1]
    cat = DisarmCatalogue.from_sources(root, version=version, previous=previous)
    n_bundle = summ.objects_by_type.get("attack-pattern", 0)
    summ.notes.append(f"DISARM Red v{version}: {len(cat)} techniques ({n_bundle} attack-patterns in "
                      f"{DISARM_BUNDLE.name}, {len(cat)} in the techniques sheet, same ids), "
                      f"{len(cat.tactics)} tactics")
    parents = sum(1 for t in cat.techniques.values() if t.parent_id is None)
    summ.notes.append(f"{parents} top-level techniques + {len(cat) - parents} sub-techniques")
    for r in cat.retired.values():
        what = f"-> {', '.join(r.successors)}" if r.successors else "withdrawn"
        summ.notes.append(f"retired {r.disarm_id} {r.name!r}: {what}")
    for t in cat.techniques.values():
        if t.tactic_id not in cat.tactics:
            res.errors.append(ImportIssue(str(root / DISARM_XLSX), None, "tactic_id",
                                          f"{t.disarm_id}: unknown tactic", t.tactic_id))
    return res


def build_catalogue_file(root: str | Path, out: str | Path, version: str = "1.6",
                         previous: Iterable[str | Path] = ()) -> Path:
    """Write the packaged catalogue JSON (``intel/data/disarm_red_v<version>.json``) from sources."""
    cat = DisarmCatalogue.from_sources(root, version=version, previous=previous)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cat.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out

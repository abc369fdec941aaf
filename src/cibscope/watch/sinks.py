"""Alert outputs of ``cibscope watch``: a JSON-lines log, a webhook (JSON POST) and a TAXII 2.1 hub.

Alerts are first committed to ``watch_alerts`` with the update that raised them; :func:`deliver` then
sends every alert an output has not yet acknowledged, oldest first, and marks it sent there. A process
killed between sending and marking re-sends on restart, so delivery is at least once; each output
deduplicates by ``alert_id``: the log skips ids it already holds (it is read at start), the webhook gets
the id in the body and in an ``Idempotency-Key`` header, and a STIX object's id derives from the alert id
(the hub stores a re-sent object as the same version).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..intel.stixobj import sco, sdo, stix_timestamp
from ..share.markings import TLP2_IDS, purpose_marking, tlp2_marking_definition
from ..store.db import Store
from ..text import plural

#: Days a pushed alert's purpose marking lets the hub serve it.
RETENTION_DAYS = 180


class Sink(Protocol):
    """An alert output: ``column`` is its delivery flag in ``watch_alerts``; ``send`` raises on failure."""

    column: str

    def send(self, alert: dict[str, Any]) -> None: ...


class LogSink:
    """Append each alert as one JSON line to ``path`` (flushed and fsynced); ids already in the file are
    skipped. A torn last line (a crash mid-write) is completed with a newline before appending."""

    column = "sent_log"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seen: set[str] = set()
        if self.path.exists():
            text = self.path.read_text(encoding="utf-8")
            for line in text.splitlines():
                try:
                    self.seen.add(json.loads(line)["alert_id"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
            if text and not text.endswith("\n"):
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write("\n")

    def send(self, alert: dict[str, Any]) -> None:
        if alert["alert_id"] in self.seen:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(alert, ensure_ascii=False, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.seen.add(alert["alert_id"])


def check_http_url(url: str, what: str = "URL") -> str:
    """Return ``url`` when it is an absolute ``http://`` or ``https://`` URL with a host.

    Raises
    ------
    ValueError
        Any other value; the message names ``what`` and the value.
    """
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in 0-65535
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{what} {url!r} is not an http(s) URL (e.g. https://hooks.example.org/cib)")
    return url


class WebhookSink:
    """POST each alert as JSON to ``url``; a non-2xx answer or a connection error raises
    :class:`requests.RequestException` (the alert stays unsent and is retried on the next cycle).
    A ``url`` that is not http(s) raises :class:`ValueError` here (:func:`check_http_url`)."""

    column = "sent_webhook"

    def __init__(self, url: str, timeout_s: float = 10.0):
        self.url, self.timeout_s = check_http_url(url, "webhook"), timeout_s

    def send(self, alert: dict[str, Any]) -> None:
        import requests  # here, not at module level: it is slow to import and `cibscope --help` loads this module

        r = requests.post(self.url, json=alert, timeout=self.timeout_s,
                          headers={"Idempotency-Key": alert["alert_id"], "User-Agent": "cibscope-watch"})
        r.raise_for_status()


def alert_objects(alert: dict[str, Any], store: Store, *, tlp: str, purpose: str,
                  identity_name: str = "cibscope watch") -> list[dict[str, Any]]:
    """STIX 2.1 objects of one alert: a ``grouping`` (context ``suspicious-activity``) of the members'
    ``user-account`` objects, with the alert's evidence as description, and for a ``tip`` alert one
    ``sighting`` per matched tip indicator (the sighting of a partner's indicator in our data, STIX 2.1
    section 5.2); all marked with the TLP 2.0 level and a purpose-limitation marking."""
    now = stix_timestamp()
    pm = purpose_marking([purpose], f"cibscope watch alert {alert['alert_id']}", RETENTION_DAYS,
                         created="2024-01-01T00:00:00.000Z")
    marks = {"object_marking_refs": [TLP2_IDS[tlp], pm["id"]]}
    ident = {**sdo("identity", ("cibscope-identity", identity_name), "2024-01-01T00:00:00.000Z",
                   name=identity_name, identity_class="organization"), **marks}
    keys = [m["account_key"] for m in alert["members"]]
    accounts = store.con.execute("SELECT account_key, platform, account_id, handle FROM accounts "
                                 "WHERE list_contains(?, account_key) ORDER BY account_key", [keys]).fetchall()
    users = [{**sco("user-account", account_type=p, user_id=i, account_login=h), **marks} for _, p, i, h in accounts]
    desc = (f"cibscope watch alert '{alert['kind']}' on cluster {alert['wid']} "
            f"({plural(alert['n_members'], 'account')}, "
            f"data up to {alert['data_time']} UTC). {alert['summary']}")
    group = {**sdo("grouping", ("cibscope-watch", alert["alert_id"]), now, name=f"{alert['kind']} {alert['wid']}",
                   context="suspicious-activity", description=desc, created_by_ref=ident["id"],
                   object_refs=[u["id"] for u in users] or [ident["id"]]), **marks}
    objs = [tlp2_marking_definition(tlp), pm, ident, *users, group]
    for ref in sorted({m["indicator_ref"] for m in alert.get("tip", [])}):
        if not ref.startswith("indicator--"):
            continue
        hits = [m for m in alert["tip"] if m["indicator_ref"] == ref]
        objs.append({**sdo("sighting", ("cibscope-watch", alert["alert_id"], ref), now, sighting_of_ref=ref,
                           count=len(hits), where_sighted_refs=[ident["id"]], created_by_ref=ident["id"],
                           description=f"accounts of cluster {alert['wid']}: "
                                       + ", ".join(sorted({m['account_key'] for m in hits}))), **marks})
    return objs


class TaxiiSink:
    """Push each alert's STIX objects (:func:`alert_objects`) to a TAXII 2.1 collection (a cibscope hub or any
    TAXII server) with the declared ``purpose``; raises :class:`cibscope.share.client.ShareError` on failure."""

    column = "sent_taxii"

    def __init__(self, store: Store, server: str, collection_id: str, *, tlp: str, purpose: str, **cred: Any):
        self.store, self.server, self.collection_id = store, server, collection_id
        self.tlp, self.purpose, self.cred = tlp, purpose, cred

    def send(self, alert: dict[str, Any]) -> None:
        import requests
        from ..share.client import _http_error, connect
        from taxii2client.exceptions import TAXIIServiceException
        col, _ = connect(self.server, self.collection_id, self.purpose, **self.cred)
        objs = alert_objects(alert, self.store, tlp=self.tlp, purpose=self.purpose)
        try:
            status = col.add_objects({"objects": objs}, wait_for_completion=True, poll_interval=1, timeout=60)
        except (TAXIIServiceException, requests.RequestException) as exc:
            raise _http_error(exc) from None
        if status.failure_count:
            from ..share.client import ShareError
            raise ShareError(f"TAXII hub refused {status.failure_count} objects of alert {alert['alert_id']}: "
                             f"{status.failures}")


def deliver(store: Store, sinks: list[Sink]) -> dict[str, list[str]]:
    """Send every alert each sink has not acknowledged, in raising order, and mark it sent.

    Returns
    -------
    dict
        ``{"sent": [f"{column}:{alert_id}", ...], "failed": [f"{column}:{alert_id}: reason", ...]}``; a sink
        stops at its first failure (order is kept) and is retried on the next call.
    """
    out: dict[str, list[str]] = {"sent": [], "failed": []}
    for sink in sinks:
        rows = store.con.execute(f"SELECT alert_id, payload FROM watch_alerts WHERE NOT {sink.column} ORDER BY seq"
                                 ).fetchall()
        for aid, payload in rows:
            try:
                sink.send(json.loads(payload))
            except Exception as exc:  # any output failure: keep the alert unsent and retry later
                out["failed"].append(f"{sink.column}:{aid}: {exc}")
                break
            store.con.execute(f"UPDATE watch_alerts SET {sink.column} = TRUE WHERE alert_id = ?", [aid])
            out["sent"].append(f"{sink.column}:{aid}")
    return out

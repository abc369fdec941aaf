"""Push and pull against any TAXII 2.1 server, built on ``taxii2-client``.

Every request carries the declared purpose in ``X-Cibscope-Purpose`` (servers other
than cibscope ignore it) and authenticates with a Bearer token or HTTP Basic.
``pull`` is incremental: it keeps the last ``X-TAXII-Date-Added-Last`` seen in
``<folder>/.cibscope-pull.json`` and asks only for versions added after it, so new
versions (including revocations, ``revoked: true``) reach every puller.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import requests
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, as_pages

from .policy import PURPOSE_HEADER

STATE_FILE = ".cibscope-pull.json"

#: Seconds to connect to a server and to wait for each answer (push, pull and the API root request);
#: a server that never answers fails the push after this instead of holding the caller for minutes.
TIMEOUT_S = 30.0


class ShareError(RuntimeError):
    """A push or pull that failed: unreadable bundle, HTTP error (with the server's reason), bad state."""


class HubAuth(requests.auth.AuthBase):
    """``requests`` auth that sends a Bearer token (or HTTP Basic) and the declared purpose header.

    Passed as ``auth=`` to any ``taxii2client`` endpoint, it travels to the API roots,
    collections and status objects the client creates from it.
    """

    def __init__(self, purpose: str, token: Optional[str] = None, user: Optional[str] = None,
                 password: Optional[str] = None):
        self.purpose, self.token = purpose, token
        self.basic = requests.auth.HTTPBasicAuth(user, password or "") if user and not token else None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[PURPOSE_HEADER] = self.purpose
        if self.token:
            r.headers["Authorization"] = f"Bearer {self.token}"
        elif self.basic is not None:
            r = self.basic(r)
        return r


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """An adapter that gives every request :data:`TIMEOUT_S` (``taxii2client`` passes no timeout)."""

    def send(self, request, timeout=None, **kw):  # type: ignore[override]
        return super().send(request, timeout=timeout if timeout is not None else TIMEOUT_S, **kw)


def _refuse_odd_answers(r: requests.Response, *a: Any, **k: Any) -> requests.Response:
    """Response hook: a redirect is never followed (a hub answering 307 to another address would make us
    re-send the bundle, and our credentials, there) and an answer without a Content-Type is an error
    (``taxii2client`` would raise ``KeyError``). Both raise :class:`requests.HTTPError` naming the status."""
    if r.is_redirect or 300 <= r.status_code < 400:
        raise requests.HTTPError(f"HTTP {r.status_code} redirect not followed", response=r)
    if "Content-Type" not in r.headers and r.status_code != 204:
        raise requests.HTTPError(f"HTTP {r.status_code} answer without a Content-Type", response=r)
    return r


def harden(session: requests.Session) -> requests.Session:
    """Make ``session`` fail on redirects and Content-Type-less answers and time out after :data:`TIMEOUT_S`."""
    session.max_redirects = 0
    session.hooks["response"].insert(0, _refuse_odd_answers)
    adapter = _TimeoutAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def connect(server: str, collection_id: str, purpose: str, *, token: Optional[str] = None,
            user: Optional[str] = None, password: Optional[str] = None) -> tuple[Collection, list]:
    """A ``taxii2client`` Collection for ``<server>/collections/<id>/`` and a list that receives each
    response's headers (newest last).

    Parameters
    ----------
    server : str
        API root URL (``http://host:port/<root>/``).
    token, user, password : str, optional
        Bearer token, or HTTP Basic credentials.
    """
    url = server.rstrip("/") + f"/collections/{collection_id}/"
    col = Collection(url, auth=HubAuth(purpose, token, user, password))
    harden(col._conn.session)
    seen: list = []
    col._conn.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.headers))
    return col, seen


def _http_error(exc: Exception) -> ShareError:
    """A :class:`ShareError` naming the status, the request and the server's reason: the TAXII error
    message's ``description`` (or ``title``), else the body as text (HTML tags removed, 300 chars)."""
    resp = getattr(exc, "response", None)
    if resp is None:
        return ShareError(str(exc))
    try:
        body = resp.json()
        reason = (body.get("description") or body.get("title")) if isinstance(body, dict) else None
    except ValueError:
        reason = None
    if 300 <= resp.status_code < 400:
        reason = f"redirect to {resp.headers.get('Location', '(no Location)')!r} not followed"
    elif "Content-Type" not in resp.headers:
        reason = "answer without a Content-Type (not a TAXII 2.1 server)"
    if not reason:
        reason = " ".join(re.sub(r"<[^>]*>", " ", resp.text).split())[:300] or "(empty body)"
    req = f"{resp.request.method} {resp.url}" if resp.request is not None else resp.url
    return ShareError(f"HTTP {resp.status_code} {resp.reason} ({req}): {reason}")


def load_bundle(path: Path) -> list[dict[str, Any]]:
    """The objects of a STIX bundle (or TAXII envelope) file.

    Raises
    ------
    ShareError
        Naming the file when it is missing, not JSON or has no ``objects`` list.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShareError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ShareError(f"{path}: line {exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
        raise ShareError(f"{path}: field 'objects': a STIX bundle or TAXII envelope needs an 'objects' list")
    return doc["objects"]


def push(bundle: Path, server: str, collection_id: str, purpose: str, *, max_bytes: Optional[int] = None,
         **cred: Optional[str]) -> dict[str, Any]:
    """Post a bundle's objects, in as many envelopes as the API root's ``max_content_length`` needs.

    Marking and extension definitions go in the first envelope, so every later envelope's
    objects find their markings already stored (TAXII 2.1 section 4.1: a server refuses a
    request body larger than ``max_content_length`` with HTTP 413).

    Parameters
    ----------
    bundle : Path
        STIX bundle or TAXII envelope file.
    server : str
        API root URL.
    collection_id, purpose : str
        Target collection; declared purpose.
    max_bytes : int, optional
        Envelope size limit in bytes; by default the API root's ``max_content_length``.

    Returns
    -------
    dict
        ``id`` (last status id), ``status_ids``, ``envelopes``, ``total_count``,
        ``success_count``, ``failure_count``, ``pending_count``, ``failures`` (list of
        ``{"id", "message"}`` over all envelopes).

    Raises
    ------
    ShareError
        Unreadable bundle, an object larger than the limit on its own, or an HTTP error.
    """
    objs = load_bundle(bundle)
    col, _ = connect(server, collection_id, purpose, **cred)
    try:
        if max_bytes is None:
            root = ApiRoot(server.rstrip("/") + "/", auth=HubAuth(purpose, **cred))
            harden(root._conn.session)
            max_bytes = int(root.max_content_length)
        envelopes = _envelopes(objs, max_bytes, str(bundle))
        total: dict[str, Any] = {"status_ids": [], "envelopes": len(envelopes), "total_count": 0,
                                 "success_count": 0, "failure_count": 0, "pending_count": 0, "failures": []}
        for env in envelopes:
            st = col.add_objects({"objects": env}, wait_for_completion=True, poll_interval=1, timeout=60)._raw
            total["status_ids"].append(st["id"])
            for k in ("total_count", "success_count", "failure_count", "pending_count"):
                total[k] += int(st.get(k, 0))
            total["failures"] += st.get("failures", [])
    except (TAXIIServiceException, requests.RequestException) as exc:
        raise _http_error(exc) from None
    except (KeyError, ValueError, TypeError) as exc:  # an answer that is not a TAXII status resource
        raise ShareError(f"{server}: not a TAXII 2.1 answer ({type(exc).__name__}: {exc})") from None
    total["id"] = total["status_ids"][-1] if total["status_ids"] else None
    return total


def _envelopes(objs: list[dict[str, Any]], max_bytes: int, where: str) -> list[list[dict[str, Any]]]:
    """Split ``objs`` (definitions first) into lists whose JSON envelope stays under 90 % of ``max_bytes``."""
    defs = [o for o in objs if o.get("type") in ("marking-definition", "extension-definition")]
    rest = [o for o in objs if o.get("type") not in ("marking-definition", "extension-definition")]
    budget = int(max_bytes * 0.9) - len('{"objects": []}')
    out: list[list[dict[str, Any]]] = []
    size = budget + 1
    for obj in defs + rest:
        n = len(json.dumps(obj).encode("utf-8")) + 2
        if n > budget:
            raise ShareError(f"{where}: object {obj.get('id')} is {n:,} bytes, over the server's limit "
                             f"of {max_bytes:,} bytes per request")
        if size + n > budget:
            out.append([])
            size = 0
        out[-1].append(obj)
        size += n
    return out


@dataclass
class PullResult:
    """``count`` versions written to ``path`` (None when nothing new); ``last`` is the new high-water mark."""

    count: int
    path: Optional[Path]
    last: Optional[str]


def pull(folder: Path, server: str, collection_id: str, purpose: str, *, added_after: Optional[str] = None,
         page_size: int = 500, **cred: Optional[str]) -> PullResult:
    """Fetch every version added after the saved high-water mark into a new bundle file in ``folder``.

    Raises
    ------
    ShareError
        On an HTTP error (with the server's reason) or an unreadable state file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / STATE_FILE
    state: dict[str, Any] = {}
    if state_path.exists():
        try:
            state = json.loads(state_path.read_text())
        except json.JSONDecodeError as exc:
            raise ShareError(f"{state_path}: not JSON ({exc.msg})") from None
    key = f"{server.rstrip('/')}/collections/{collection_id}/"
    after = added_after or state.get(key)
    col, seen = connect(server, collection_id, purpose, **cred)
    objs: list[dict[str, Any]] = []
    last = after
    try:
        filt = {"added_after": after} if after else {}
        for env in as_pages(col.get_objects, per_request=page_size, **filt):
            objs += env.get("objects", [])
            hdr = seen[-1] if seen else {}
            if hdr.get("X-TAXII-Date-Added-Last"):
                last = hdr["X-TAXII-Date-Added-Last"]
    except (TAXIIServiceException, requests.RequestException) as exc:
        raise _http_error(exc) from None
    path = None
    if objs:
        path = folder / f"pull-{(last or 'all').replace(':', '')}.json"
        path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs},
                                   indent=1, ensure_ascii=False), encoding="utf-8")
    state[key] = last
    state_path.write_text(json.dumps(state, indent=1))
    return PullResult(len(objs), path, last)

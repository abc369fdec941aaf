"""Detection parameters: one documented, validated set shared by every engine.

docs/detection.md explains each parameter; ``tests/test_detect_params_doc.py``
keeps that page in sync with :class:`DetectionParams`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from ..store.schema import ACTION_TYPES

Signal = Literal["repost", "link", "domain", "hashtag", "hashtag_seq", "mention", "reply", "text", "image",
                 "quote", "text_near", "fast_repost", "burst"]
#: Every signal: the stored action types, then those derived at detection time (``detect/derived.py``).
SIGNALS: tuple[str, ...] = ACTION_TYPES + ("text_near", "fast_repost", "burst")

#: Signals on by default. ``domain`` and ``mention`` are off: a shared news domain or a mentioned
#: celebrity links too many organic accounts to be evidence on its own. ``text_near`` and
#: ``fast_repost`` are off: they re-count what ``text`` and ``repost`` find (and cost more). ``burst``
#: (synchronised activity bursts) is off: it is content-free, so it supports other evidence rather than
#: standing alone.
DEFAULT_SIGNALS: tuple[str, ...] = ("repost", "link", "hashtag", "hashtag_seq", "reply", "text", "image", "quote")

#: Time scales on by default (seconds): fast (a minute: bots and scripted accounts), medium (ten minutes)
#: and slow (an hour: people working a shared task list). docs/detection.md, "Time scales".
DEFAULT_WINDOWS: tuple[float, ...] = (60.0, 600.0, 3600.0)
#: The longest window accepted (31 days): beyond it "at the same time" means nothing, and a huge or
#: infinite number would only fail deep inside the engine.
MAX_WINDOW_S = 31 * 86400.0
#: The shortest window accepted (1 ms): bucket numbers are ``floor(t / W)`` in 64 bits, and timestamps
#: are kept to the microsecond.
MIN_WINDOW_S = 0.001
#: Scales up to this many seconds pair objects of up to ``max_object_accounts`` accounts ...
FAST_SCALE_MAX_S = 60.0
#: ... longer ones up to this many seconds up to ``max_object_accounts_mid``, longer ones up to
#: ``max_object_accounts_slow``: pairing an object costs its accounts squared times the window.
MID_SCALE_MAX_S = 600.0
#: The largest cap accepted (object and account counts are 32-bit integers in the core).
MAX_CAP = 2**31 - 1


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``60``, ``"60s"``, ``"5m"``, ``"2h"`` or ``"1d"``.

    Raises
    ------
    ValueError
        Not a non-negative number with an optional s/m/h/d unit.
    """
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        mult = units.get(text[-1:], None)
        number = text[:-1] if mult else text
        try:
            seconds = float(number) * (mult or 1)
        except ValueError:
            raise ValueError(f"not a duration: {value!r} (use e.g. 60s, 5m, 2h)") from None
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return seconds


class DetectionParams(BaseModel):
    """Parameters of one coordination-detection run.

    Attributes
    ----------
    windows : list of float
        The time scales W in seconds, fastest first (default 60 s, 10 min, 1 h): at each scale two
        actions on the same object are a co-action when ``|t_a - t_b| <= W`` on exact timestamps (a
        sliding window, not bins). Every pair and cluster is tested at every scale, with one
        false-discovery control over all scales; each edge and cluster records the scale at which it
        is significant. ``DetectionParams(window_s=60)`` is one scale (``windows=[60]``).
    window_s : float (read only)
        The fastest scale, ``windows[0]``.
    signals : list of str
        Action types used (see ``cibscope.store.schema.ACTION_TYPES``).
    min_coactions : int
        Minimum distinct co-acted objects (signal, object) for a pair to be an edge.
    min_account_actions : int
        Accounts with fewer actions (all signals) are ignored (minimum participation).
    max_object_accounts : int
        Objects acted on by more distinct accounts than this are not expanded into
        pairs (a viral post carries no evidence of coordination and would explode
        the pair count); they still count towards account activity.
        This is the cap of scales up to :data:`FAST_SCALE_MAX_S` (60 s) and the ceiling of the others.
    max_object_accounts_mid : int
        At scales longer than 60 s and up to :data:`MID_SCALE_MAX_S` (10 min), objects acted on by
        more distinct accounts than this are not expanded (they are paired at a faster scale only, if
        the run has one). Clipped to ``max_object_accounts``.
    max_object_accounts_slow : int
        At scales longer than 10 min (1 h by default), objects acted on by more distinct accounts than
        this are not expanded: an object shared by hundreds of accounts within an hour is a trend, not
        evidence, and the cost of pairing an object grows with its accounts squared times the window.
        Clipped to ``max_object_accounts_mid``. A scale's cap depends on its length alone, so adding or
        removing another scale changes nothing at it. The defaults (200 and 70) were measured on the
        generator, the adversarial scenarios and the IRA runs (docs/detection.md, "Object caps per
        scale").
    alpha : float
        False-discovery rate for edges (Benjamini-Hochberg q-value) and clusters.
    significance : bool
        When False, every pair with ``min_coactions`` is an edge (parity mode with
        window-count tools such as coordination-network-toolkit).
    discount : bool
        When True, an object's weight is its inverse document frequency
        ``log(N_s / k_o)`` (Pacheco et al. 2021); when False every object weighs 1.
    min_cluster_size : int
        Smaller connected groups are not reported as clusters.
    min_lift : float
        A cluster is flagged as a candidate operation only if its members co-act at
        least this many times more often than the null model expects (an effect
        size: with millions of actions, tiny excesses are "significant" too).
    min_overlap : float
        A cluster is flagged only if, over its edges, the median share of the less active
        member's objects that the two co-acted on is at least this (an effect size independent of
        the rest of the data: accounts mirroring one public feed co-act on a few percent of it).
        Waived for a cluster whose co-actions no single source explains (``max_source_share``,
        ``min_sources_per_member``): the overlap rule tells feed mirrors from operations.
    max_source_share : float
        A cluster below ``min_overlap`` is still flagged when, at its scale, the top *source* of its
        internal co-actions (a link's host, the author of a reposted, quoted or replied-to post, else
        the object itself) holds less than this share of them ...
    min_sources_per_member : float
        ... and they span at least this many distinct sources per member: many unrelated occasions,
        not one publisher, account, trend or event that every member reacts to (docs/detection.md,
        "Cluster decision", rule 4).
    resolution : float
        Leiden resolution (modularity objective); higher gives smaller clusters.
    seed : int
        Random seed of Leiden: the same input and parameters give the same result.
    datasets : list of str or None
        Restrict the run to these datasets (None: all data in the store).
    near_dup_threshold : float
        Jaccard similarity from which two texts are near-duplicates (``text_near``).
    near_dup_num_perm : int
        MinHash permutations for ``text_near`` (more: sharper threshold, slower).
    fast_repost_s : float
        A repost within this many seconds of its original is a ``fast_repost`` action.
    burst_gap_s : float
        Posts of one account with consecutive gaps of at most this many seconds form
        one activity session (``burst`` signal).
    burst_min_posts : int
        A session with at least this many posts is an activity burst (``burst``).
    """

    # allow_inf_nan=False: an infinite min_lift or gap would be stored as JSON null and written into SQL as "inf"
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    windows: list[float] = Field(default_factory=lambda: list(DEFAULT_WINDOWS), min_length=1, max_length=6)
    signals: list[Signal] = Field(default_factory=lambda: list(DEFAULT_SIGNALS), min_length=1)
    min_coactions: int = Field(3, ge=1, le=MAX_CAP)
    min_account_actions: int = Field(2, ge=1, le=MAX_CAP)
    max_object_accounts: int = Field(1000, ge=2, le=MAX_CAP)
    max_object_accounts_mid: int = Field(200, ge=2, le=MAX_CAP)
    max_object_accounts_slow: int = Field(70, ge=2, le=MAX_CAP)
    alpha: float = Field(0.01, gt=0, lt=1)
    significance: bool = True
    discount: bool = True
    min_cluster_size: int = Field(3, ge=2)
    min_lift: float = Field(5.0, ge=1)
    min_overlap: float = Field(0.07, ge=0, le=1)
    max_source_share: float = Field(0.5, ge=0, le=1)
    min_sources_per_member: float = Field(5.0, ge=0)
    resolution: float = Field(1.0, gt=0)
    seed: int = 42
    datasets: list[str] | None = None
    near_dup_threshold: float = Field(0.6, gt=0, lt=1)
    near_dup_num_perm: int = Field(32, ge=8, le=256)
    fast_repost_s: float = Field(30.0, gt=0)
    burst_gap_s: float = Field(60.0, gt=0)
    burst_min_posts: int = Field(3, ge=2)

    @model_validator(mode="before")
    @classmethod
    def _single_window(cls, data):
        """``window_s=X`` (the one-scale form, and runs saved before scales existed) is ``windows=[X]``."""
        if isinstance(data, dict) and "window_s" in data:
            data = dict(data)
            single = data.pop("window_s")
            if "windows" not in data:
                data["windows"] = [single]
            elif not data["windows"] or single != min(data["windows"]):  # saved runs hold both, consistent
                raise ValueError(f"window_s={single} and windows={data['windows']} exclude each other: "
                                 "window_s is one scale, windows several")
        return data

    @model_validator(mode="after")
    def _caps_shrink(self):
        """A slower scale never pairs more popular objects than a faster one: clip the mid and slow caps, so
        the saved parameters are the caps the run used."""
        self.max_object_accounts_mid = min(self.max_object_accounts_mid, self.max_object_accounts)
        self.max_object_accounts_slow = min(self.max_object_accounts_slow, self.max_object_accounts_mid)
        return self

    @field_validator("windows", mode="before")
    @classmethod
    def _distinct(cls, v):
        """Duplicates are one scale (``60s,1m``), before the count of scales is checked."""
        if isinstance(v, (list, tuple)):
            try:
                return sorted(set(float(w) for w in v))
            except (TypeError, ValueError):
                return v  # the type check reports it
        return v

    @field_validator("windows")
    @classmethod
    def _scales(cls, v: list[float]) -> list[float]:
        if any(not MIN_WINDOW_S <= w <= MAX_WINDOW_S for w in v):  # also refuses NaN and infinity
            raise ValueError(f"every window must be at least {MIN_WINDOW_S:g} s (1 ms) and at most "
                             f"{MAX_WINDOW_S:g} seconds (31 days)")
        return v  # sorted and distinct already (_distinct)

    @computed_field  # kept in the saved parameters: the fastest scale
    @property
    def window_s(self) -> float:
        """The fastest scale in seconds (``windows[0]``)."""
        return self.windows[0]

    @property
    def max_window_s(self) -> float:
        """The slowest scale in seconds: pairs are formed of actions at most this far apart."""
        return self.windows[-1]

    def object_cap(self, scale: int) -> int:
        """Most distinct accounts an object may have to be expanded into pairs at scale number ``scale``: by
        the scale's length, ``max_object_accounts`` up to 60 s, ``max_object_accounts_mid`` up to 10 min,
        ``max_object_accounts_slow`` beyond (never growing with the scale: each object is joined once, at
        the slowest scale admitting it)."""
        w = self.windows[scale]
        if w <= FAST_SCALE_MAX_S:
            return self.max_object_accounts
        return self.max_object_accounts_mid if w <= MID_SCALE_MAX_S else self.max_object_accounts_slow

    @field_validator("signals")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(SIGNALS))
        if unknown:
            raise ValueError(f"unknown signals {unknown}; known: {list(SIGNALS)}")
        return sorted(set(v), key=list(SIGNALS).index)

"""Run detection on Apache Spark: the same Ibis core (``detect/core.py``) on a PySpark session.

Input is the Parquet layout ``cibscope export`` writes (``<input>/actions.parquet``), on a
local path or any URI Spark reads (``hdfs://``, ``s3a://``, ``gs://``, ...). The heavy steps
run on Spark; the candidate pairs and the evidence rows of the final edges come back to the
driver, where significance (numpy) and Leiden (python-igraph) run and the run is saved into a
DuckDB store exactly as the embedded engine saves it (docs/scale.md).

Needs the ``spark`` extra (``pip install cibscope[spark]``) and Java 17.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..store.db import Store
from .params import DetectionParams


def spark_session(master: str | None = None, app_name: str = "cibscope-detect") -> Any:
    """A PySpark session configured by the standard Spark configuration.

    Settings come from ``$SPARK_CONF_DIR/spark-defaults.conf`` (or ``$SPARK_HOME/conf``),
    ``PYSPARK_SUBMIT_ARGS`` and the other ``SPARK_*``/``PYSPARK_*`` variables, as for any
    PySpark program; ``master`` (e.g. ``spark://host:7077``, ``yarn``, ``k8s://...``,
    ``local[4]``) overrides the configured master only. cibscope itself sets
    ``spark.sql.session.timeZone=UTC`` (timestamps are UTC throughout) and, for each of these
    that is not configured, a default (:data:`SESSION_DEFAULTS`; docs/scale.md says why):
    a temporary ``spark.sql.warehouse.dir`` (it never writes tables there),
    ``spark.sql.maxPlanStringLength=100k``, Arrow collection to the driver, adaptive
    partitioning of cached tables and, in local mode, ``spark.driver.memory=2g`` and
    ``spark.sql.shuffle.partitions`` = 2 x the local threads.
    ``SPARK_LOCAL_IP`` defaults to 127.0.0.1 when ``master`` is local or unset.

    Raises
    ------
    RuntimeError
        PySpark is not installed (install the ``spark`` extra).
    ValueError
        ``master`` is not one of the forms in :data:`MASTER`.
    """
    if master is not None and not MASTER.fullmatch(master):
        raise ValueError(f"--master {master!r}: not a Spark master URL (local, local[N], local[*], spark://HOST:PORT, "
                         "yarn, k8s://https://HOST:PORT)")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RuntimeError("the Spark engine needs PySpark: pip install 'cibscope[spark]' (and Java 17)") from None
    effective = master or _configured_value("spark.master") or "local[*]"
    local = effective.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
    if master:
        builder = builder.master(master)
    defaults = dict(SESSION_DEFAULTS)
    if _configured_value("spark.sql.warehouse.dir") is None:  # no empty temporary folder when one is configured
        warehouse = tempfile.mkdtemp(prefix="cibscope-warehouse-")
        atexit.register(shutil.rmtree, warehouse, True)  # empty unless a table is saved: no litter in /tmp
        defaults["spark.sql.warehouse.dir"] = warehouse
    if local:
        defaults.update(LOCAL_DEFAULTS, **{"spark.sql.shuffle.partitions": str(2 * _local_threads(effective))})
    for key, value in defaults.items():
        if _configured_value(key) is None:
            builder = builder.config(key, value)
    return builder.getOrCreate()


#: The master URLs Spark accepts (Spark docs, "Master URLs"; ``local-cluster`` is for Spark's own tests).
MASTER = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|spark://\S+|yarn|k8s://\S+")
#: spark-submit options that stand for a configuration key (``PYSPARK_SUBMIT_ARGS``).
SUBMIT_OPTIONS = {"--master": "spark.master", "--driver-memory": "spark.driver.memory",
                  "--executor-memory": "spark.executor.memory", "--executor-cores": "spark.executor.cores",
                  "--num-executors": "spark.executor.instances"}
#: Set when not configured, on any master.
SESSION_DEFAULTS = {
    # The core's plans are deep (joins of cached tables): Spark renders each plan as a string for
    # its UI and event log, which ran the default 1 GiB local driver out of heap in a test run.
    "spark.sql.maxPlanStringLength": "100k",
    # Let adaptive query execution coalesce (and split) the shuffles that read the core's cached
    # tables; without it every read of a cached table runs spark.sql.shuffle.partitions tasks
    # (200 by default). With the local shuffle partitions below and Arrow collection: 350.9 s ->
    # 134.6 s at 200k posts on local[2] (docs/benchmarks.md, "side by side on a quiet machine").
    "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
    # Results come back to the driver as Arrow record batches, not pickled rows.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
#: Set when not configured and the master is local (one machine: few, larger shuffle partitions).
LOCAL_DEFAULTS = {"spark.driver.memory": "2g"}


def _local_threads(master: str) -> int:
    """The worker threads of a ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]`` master."""
    inside = master.partition("[")[2].rstrip("]").split(",")[0]
    if inside.isdigit():
        return int(inside)
    return os.cpu_count() or 1 if inside == "*" else 1


def _configured_value(key: str) -> str | None:
    """``key``'s value in ``PYSPARK_SUBMIT_ARGS`` (``--conf key=value`` or a spark-submit option of
    :data:`SUBMIT_OPTIONS` such as ``--driver-memory``) or spark-defaults.conf; ``""`` where it is present without a readable value."""
    args = os.environ.get("PYSPARK_SUBMIT_ARGS", "").split()
    for i, arg in enumerate(args):
        if SUBMIT_OPTIONS.get(arg) == key and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(key + "="):
            return arg.partition("=")[2]
    if key in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return ""
    for folder in (os.environ.get("SPARK_CONF_DIR"), os.environ.get("SPARK_HOME") and
                   os.path.join(os.environ["SPARK_HOME"], "conf")):
        conf = Path(folder) / "spark-defaults.conf" if folder else None
        if conf and conf.exists():
            for line in conf.read_text().splitlines():
                # java.util.Properties syntax: key, then white space, '=' or ':', then the value
                m = re.match(r"\s*([^\s=:#!]+)\s*[=:]?\s*(.*?)\s*$", line)
                if m and m.group(1) == key:
                    return m.group(2)
    return None


def check_input(input_uri: str | Path, params: DetectionParams | None) -> str:
    """What can be checked before a Spark session starts (20 s or more): returns the input URI without a
    trailing slash.

    Raises
    ------
    FileNotFoundError
        A local ``input_uri`` (a path or ``file://`` URI) has no ``actions.parquet``.
    ValueError
        ``params`` asks for a derived signal (``text_near``, ``fast_repost``: embedded engine only).
    """
    from . import refuse_derived

    refuse_derived(params or DetectionParams())
    uri = str(input_uri).rstrip("/")
    if "://" not in uri or uri.startswith("file://"):
        local = Path(uri.removeprefix("file://"))
        if not (local / "actions.parquet").exists():
            raise FileNotFoundError(f"{local}: no actions.parquet (write it with "
                                    f"`cibscope export {local} --db <store>`)")
    return uri


def detect_parquet(store: Store, input_uri: str | Path, params: DetectionParams | None = None, *,
                   session: Any = None, master: str | None = None,
                   progress: Callable[[str], None] | None = None):
    """Detect on Spark from ``<input_uri>/actions.parquet`` and save the run into ``store``.

    Parameters
    ----------
    store : Store
        Receives the run (``runs``, ``edges``, ``edge_evidence``, ``clusters``,
        ``cluster_members``); it need not hold the data.
    input_uri : str or Path
        Folder written by ``cibscope export`` (local path or a URI Spark reads).
    params : DetectionParams, optional
        The derived signals ``text_near`` and ``fast_repost`` are not available here.
    session : pyspark.sql.SparkSession, optional
        Default: :func:`spark_session` with ``master``.
    master : str, optional
    progress : callable, optional
        As for :func:`cibscope.detect.detect`.

    Returns
    -------
    RunResult

    Raises
    ------
    FileNotFoundError
        A local ``input_uri`` has no ``actions.parquet``.
    ValueError
        A derived signal was asked for.
    """
    import ibis

    from . import detect
    from .core import Engine

    uri = check_input(input_uri, params)
    session = session or spark_session(master)
    backend = ibis.pyspark.connect(session)
    actions = backend.read_parquet(f"{uri}/actions.parquet", table_name="cibscope_actions")
    return detect(store, params, progress=progress, engine=Engine(backend), actions=actions)

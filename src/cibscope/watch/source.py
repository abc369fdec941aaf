"""Where ``cibscope watch`` gets new data: a folder that receives export files, or JSON lines on stdin.

Both end as files in a folder, processed one at a time in name order (:func:`pending_files`): one file is
one update, so a restarted watch replays exactly the updates an uninterrupted one would have made. Files
whose name starts with ``.`` or ends with ``.tmp``/``.part`` are not read: a writer should write under
such a name and rename when done (an atomic move), or the watch could read half a file. A file already
ingested (same bytes, same format: ``ingested_files``) is skipped by ``ingest`` itself.

Standard input is spooled (:class:`StdinSpool`): lines are written to ``stdin-<n>.jsonl`` files in a
spool folder next to the store (``.tmp`` + fsync + rename) every ``batch_lines`` lines, after
``idle_s`` seconds without a new line, and at end of input. A line is safe once its spool file exists; a
watch killed earlier loses only lines the sender has not seen acknowledged (ingest is idempotent by post
key, so re-sending is harmless).
"""
from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import IO

IGNORED_SUFFIXES = (".tmp", ".part")


def pending_files(folder: str | Path, done: set[str]) -> list[Path]:
    """Regular files of ``folder`` (not recursive) not in ``done`` (names), in name order, skipping names
    that start with ``.`` or end with :data:`IGNORED_SUFFIXES`.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist or is not a folder (the message names it).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder to watch")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name not in done and not p.name.startswith(".")
                  and not p.name.endswith(IGNORED_SUFFIXES))


class StdinSpool:
    """Copy lines of ``stream`` into numbered spool files in ``folder`` from a background thread.

    Parameters
    ----------
    stream : text stream
        Newline-delimited JSON records (any JSON-lines format ``ingest`` reads).
    folder : Path
        Spool folder (created); numbering continues after the files already there.
    batch_lines : int
        Lines per spool file at most.
    idle_s : float
        A partial batch is written after this many seconds without a new line.

    Attributes
    ----------
    done : threading.Event
        Set once the stream has ended and its last lines are spooled.
    """

    def __init__(self, stream: IO[str], folder: str | Path, *, batch_lines: int = 5000, idle_s: float = 1.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        nums = [int(p.stem.split("-")[1]) for p in self.folder.glob("stdin-*.jsonl") if p.stem.split("-")[1].isdigit()]
        self.n = max(nums, default=0)
        self.stream, self.batch_lines, self.idle_s = stream, batch_lines, idle_s
        self.done = threading.Event()
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._spool, daemon=True).start()

    def _read(self) -> None:
        for line in self.stream:
            if line.strip():
                self._lines.put(line if line.endswith("\n") else line + "\n")
        self._lines.put(None)

    def _spool(self) -> None:
        batch: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=self.idle_s)
            except queue.Empty:
                line = ""
            if line:
                batch.append(line)
            if batch and (line is None or line == "" or len(batch) >= self.batch_lines):
                self._write(batch)
                batch = []
            if line is None:
                self.done.set()
                return

    def _write(self, lines: list[str]) -> None:
        self.n += 1
        final = self.folder / f"stdin-{self.n:09d}.jsonl"
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)

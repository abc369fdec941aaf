"""Reader for the coordination-network-toolkit CSV layout (``--format cnt-csv``).

The layout of QUT Digital Observatory's ``coordination_network_toolkit``
(``preprocess_csv_files``) and of the benchmark generator ``shared/bench/gen_posts.py``::

    message_id,user_id,username,repost_id,reply_id,message,timestamp,urls

It is a fixed :class:`~.mapped.Mapping` read with DuckDB's CSV scanner a piece
at a time (no Python per row; memory bounded by a piece, not the file). Mapping (column -> canonical post field):

    message_id -> post_id
    user_id    -> account_id
    username   -> handle
    repost_id  -> repost_of = ``twitter:<repost_id>`` (empty: not a repost)
    reply_id   -> reply_to  = ``twitter:<reply_id>``  (empty: not a reply)
    message    -> text; hashtags and mentions are extracted from it
    timestamp  -> created_at (POSIX seconds, UTC)
    urls       -> urls (space separated)
    kind       :  repost if repost_id, reply if reply_id, else post
The platform defaults to ``twitter`` (the toolkit's origin); pass another one
to the reader for other sources.
"""
from __future__ import annotations

from pathlib import Path

from .mapped import MappedCsvReader, Mapping
from .tabular import header_fields

CNT_FIELDS = ("message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls")
#: canonical field -> CNT column
CNT_MAPPING = {"post_id": "message_id", "account_id": "user_id", "handle": "username",
               "repost_of": "repost_id", "reply_to": "reply_id", "text": "message",
               "created_at": "timestamp", "urls": "urls"}
PLATFORM = "twitter"


class CntCsvReader(MappedCsvReader):
    """coordination-network-toolkit CSV (``--format cnt-csv``); see the module doc for the mapping."""

    name = "cnt-csv"
    description = "coordination-network-toolkit CSV: " + ",".join(CNT_FIELDS)
    #: The toolkit's urls column is the post's full list (its own rule): the text adds none.
    text_urls_too = False

    def __init__(self, *, platform: str | None = None, chunk_bytes: int | None = None):
        super().__init__(Mapping(columns=dict(CNT_MAPPING), platform=platform or PLATFORM), chunk_bytes=chunk_bytes)

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.is_file() and header_fields(path) == list(CNT_FIELDS)

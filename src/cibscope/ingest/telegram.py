"""Reader for Telegram Desktop chat exports (``--format telegram``).

Input: the ``result.json`` that Telegram Desktop writes for one channel, group
or chat ("Export chat history", JSON): ``{"name", "type", "id", "messages": [...]}``.
The file is streamed: the top-level members are read as they come and the
``messages`` array element by element (:func:`.json_records.member_records`),
so a multi-GB export is never held whole; DuckDB parses each message once into
:data:`MESSAGE_STRUCT`.

Mapping (message field -> canonical)
    id                   -> post_id = ``<chat id>/<id>`` (message ids are per chat)
    from_id              -> account_id (``channel<n>`` / ``user<n>``); from -> account display_name
    date_unixtime        -> created_at (POSIX seconds); exports without it: ``date``, taken as UTC
                            (Telegram writes the exporting computer's local time there)
    text_entities[].text (else text: a string, or a list of strings and entity objects)
                         -> text, the pieces joined
    entities of type link (their text), text_link (their href) -> urls
    entities of type hashtag -> hashtags (without ``#``); mention -> mentions (without ``@``)
                            (a plain-string text without text_entities: extracted from the text)
    forwarded_from       -> kind repost; repost_of = ``text:<md5 of normalised text>`` (the export
                            names the source chat, not the source message, so a forward is matched
                            to the original and to other forwards by its text, as IRA retweets are);
                            a forward without text has no repost_of
    reply_to_message_id  -> kind reply, reply_to = ``telegram:<chat id>/<id>``
    via_bot              -> client
Service messages (``type`` other than ``message``: joins, pins, calls) are not
posts: they are counted in ``rows_read`` and not ingested. A full-account export
(``chats.list``) must be split into one ``result.json`` per chat first.

Errors (line = the line where the message starts): a message that is not a
JSON object, has no ``id``, no ``from_id`` or no parsable date.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import duckdb

from .base import IngestError
from .json_records import JsonRecordsReader, Record, member_records, sniff_json, struct_sql
from .tabular import Check, posix_ts_sql, split_checked, sql_literal, time_sql
from .text_entities import hashtags_sql, mentions_sql, repost_key_sql, urls_sql

PLATFORM = "telegram"
_ENTITY = {"type": "VARCHAR", "text": "VARCHAR", "href": "VARCHAR"}
#: The message fields read (``json_transform`` structure).
MESSAGE_STRUCT = {"id": "VARCHAR", "type": "VARCHAR", "date": "VARCHAR", "date_unixtime": "VARCHAR",
                  "from": "VARCHAR", "from_id": "VARCHAR", "forwarded_from": "VARCHAR",
                  "reply_to_message_id": "VARCHAR", "via_bot": "VARCHAR", "text": "JSON",
                  "text_entities": [_ENTITY]}
#: Top-level members of ``result.json`` used.
CHAT_FIELDS = ("name", "type", "id", "messages")


class TelegramReader(JsonRecordsReader):
    """Telegram Desktop ``result.json`` of one chat (``--format telegram``); mapping in the module doc."""

    name = "telegram"
    description = "Telegram Desktop chat export result.json (one channel, group or chat)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A JSON object whose first 64 KiB name ``messages`` and message fields ``from_id``/``date_unixtime``."""
        return sniff_json(path, b'"messages"', b'"type"', first=("{",)) and (
            sniff_json(path, b'"from_id"') or sniff_json(path, b'"date_unixtime"'))

    def records(self, path: Path) -> Iterator[Record]:
        """The messages, streamed; the chat's members are kept in ``self.chat``."""
        self.chat: dict = {}
        seen = False
        for rec in member_records(path, "messages", self.chat):
            if not seen and "id" not in self.chat:
                raise IngestError(f"{path}: no chat id before the messages; expected a Telegram Desktop "
                                  "export of one chat (name, type, id, messages)")
            seen = True
            yield rec
        if not seen and "messages" not in self.chat:
            hint = " (a full-account export: export one chat at a time)" if "chats" in self.chat else ""
            raise IngestError(f"{path}: no messages array found{hint}")

    def map_records(self, con: duckdb.DuckDBPyConnection, path: Path):
        chat = sql_literal(str(self.chat["id"]))
        ents = [_ENTITY]
        text_parts = ("list_transform(json_transform(m.text, '[\"JSON\"]'), lambda x: "
                      "CASE WHEN json_type(x) = 'VARCHAR' THEN x ->> '$' ELSE x ->> '$.text' END)")
        text_ents = (f"list_transform(list_filter(json_transform(m.text, '[\"JSON\"]'), "
                     f"lambda x: json_type(x) = 'OBJECT'), lambda x: json_transform(x, {struct_sql(_ENTITY)}))")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _msg AS
            SELECT *, {chat} || '/' || m.id AS post_id, nullif(m.from_id, '') AS account_id,
                   coalesce({posix_ts_sql('m.date_unixtime')}, {time_sql('m.date')}) AS created_at,
                   CASE WHEN m.text_entities IS NOT NULL THEN array_to_string(list_transform(m.text_entities,
                                                                   lambda e: e.text), '')
                        WHEN json_type(m.text) = 'ARRAY' THEN array_to_string({text_parts}, '')
                        ELSE m.text ->> '$' END AS txt,
                   coalesce(m.text_entities, CASE WHEN json_type(m.text) = 'ARRAY' THEN {text_ents} END,
                            CAST([] AS {duckdb_struct_list(ents)})) AS ents
            FROM (SELECT filename, line, json_transform(raw, {struct_sql(MESSAGE_STRUCT)}) AS m FROM _records)
            WHERE coalesce(m.type, 'message') = 'message'""")
        checks = [Check("id", "m.id IS NULL", "message without id", "txt"),
                  Check("from_id", "account_id IS NULL", "message without from_id", "post_id"),
                  Check("date_unixtime", "created_at IS NULL", "missing or unparsable date_unixtime/date",
                        "coalesce(m.date_unixtime, m.date)")]
        good, bad = split_checked(con, "_msg", checks)

        def of_type(types: str, value: str, from_text) -> str:
            # a plain-string text without text_entities (older exports) has its entities extracted
            return (f"CASE WHEN m.text_entities IS NULL AND json_type(m.text) = 'VARCHAR' THEN {from_text('txt')} "
                    f"ELSE list_transform(list_filter(ents, lambda e: e.type IN ({types})), lambda e: {value}) END")

        posts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, post_id, account_id, created_at,
                   CASE WHEN m.forwarded_from IS NOT NULL THEN 'repost'
                        WHEN m.reply_to_message_id IS NOT NULL THEN 'reply' ELSE 'post' END AS kind,
                   txt AS text,
                   CASE WHEN m.forwarded_from IS NOT NULL THEN {repost_key_sql('txt')} END AS repost_of,
                   '{PLATFORM}:' || {chat} || '/' || m.reply_to_message_id AS reply_to,
                   {of_type("'link', 'text_link'", "coalesce(e.href, e.text)", urls_sql)} AS urls,
                   {of_type("'hashtag'", "ltrim(e.text, '#')", hashtags_sql)} AS hashtags,
                   {of_type("'mention'", "ltrim(e.text, '@')", mentions_sql)} AS mentions,
                   m.via_bot AS client, line AS source_row
            FROM _msg WHERE {good} ORDER BY line""").to_arrow_table()
        accounts = con.sql(f"""
            SELECT '{PLATFORM}' AS platform, account_id, arg_max(m."from", created_at) AS display_name
            FROM _msg WHERE {good} GROUP BY account_id""").to_arrow_table()
        con.execute("DROP TABLE _msg")
        return posts, accounts, bad


def duckdb_struct_list(struct: list[dict]) -> str:
    """The DuckDB type of a list of structs given as a ``json_transform`` structure, e.g. ``STRUCT(a VARCHAR)[]``."""
    fields = ", ".join(f'"{k}" {v}' for k, v in struct[0].items())
    return f"STRUCT({fields})[]"

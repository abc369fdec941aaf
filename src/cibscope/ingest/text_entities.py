"""SQL expressions that pull entities out of post text, for formats without entity fields.

Used by readers whose data keeps links, hashtags and mentions only inline
(the IRA CSV, CrowdTangle messages, the coordination-network-toolkit layout).
Patterns follow Twitter's own rules closely enough for co-action work: a hashtag
is ``#`` + letters/digits/underscore (Unicode), not preceded by a word character
or ``&`` (HTML entities); a mention is ``@`` + 1-15 word characters; a URL runs
from ``http(s)://`` to the next whitespace, minus trailing punctuation.
"""
from __future__ import annotations

# A leading "RT @user:" marks a retweet in text-only exports.
RT_PREFIX_RE = r"^\s*RT\s+@(\w{1,15}):?\s*"


def urls_sql(col: str) -> str:
    """SQL expression: list of URLs in text column ``col`` (trailing punctuation removed)."""
    return (f"list_transform(regexp_extract_all({col}, 'https?://[^\\s\"<>\\x{{2026}}]+'), "
            f"lambda u: rtrim(u, '.,;:!?)]}}''\"'))")


def hashtags_sql(col: str) -> str:
    """SQL expression: list of hashtags (without '#') in text column ``col``."""
    # the contains() test skips the regex on the many texts without '#'
    return (f"CASE WHEN contains({col}, '#') THEN "
            f"regexp_extract_all({col}, '(?:^|[^&\\w])#([\\p{{L}}\\p{{N}}_]+)', 1) ELSE [] END")


#: Handle patterns (regex, no anchors) of :func:`mentions_sql`: Twitter's, and the dotted handles of
#: Instagram (30 characters) and TikTok (24) whose dots may not end a handle.
TWITTER_HANDLE = r"\w{1,15}"
DOTTED_HANDLE = r"\w(?:[\w.]{0,28}\w)?"


def mentions_sql(col: str, handle: str = TWITTER_HANDLE) -> str:
    """SQL expression: list of mentioned handles (without '@') matching ``handle``, the RT source excluded."""
    return (f"CASE WHEN contains({col}, '@') THEN regexp_extract_all(regexp_replace({col}, '{RT_PREFIX_RE}', ''), "
            f"'(?:^|[^\\w])@({handle})', 1) ELSE [] END")


#: A Reddit user name: 3-20 letters, digits, ``_`` or ``-``.
REDDIT_USER = r"[A-Za-z0-9_-]{3,20}"


def reddit_mentions_sql(col: str) -> str:
    """SQL expression: list of Reddit user names mentioned as ``u/name`` or ``/u/name`` in text column ``col``.

    The ``u/`` must start a word and not be part of a path (``reddit.com/u/x`` in a URL is a link, not a
    mention); the name is the longest run of :data:`REDDIT_USER` characters.
    """
    return (f"CASE WHEN contains({col}, 'u/') THEN "
            f"regexp_extract_all({col}, '(?:^|[^\\w/])/?u/({REDDIT_USER})', 1) ELSE [] END")


def rt_source_sql(col: str) -> str:
    """SQL expression: the handle after a leading 'RT @', or NULL."""
    return f"nullif(regexp_extract({col}, '{RT_PREFIX_RE}', 1), '')"


def repost_key_sql(col: str) -> str:
    """SQL expression: object key of a repost known only by its text: ``text:<md5(norm_text)>``.

    The same key is produced with or without the "RT @user:" prefix, so retweets
    exported with and without it compare equal.
    """
    return f"CASE WHEN norm_text({col}) <> '' THEN 'text:' || md5(norm_text({col})) END"


#: HTML character references decoded by :func:`html_text_sql` (the ones Mastodon and others emit).
HTML_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&apos;": "'", "&nbsp;": " ", "&amp;": "&"}


def unescape_sql(expr: str) -> str:
    """SQL expression: ``expr`` with the references of :data:`HTML_ENTITIES` decoded (``&amp;`` last)."""
    for ref, ch in HTML_ENTITIES.items():
        expr = f"replace({expr}, '{ref}', '{ch.replace(chr(39), chr(39) * 2)}')"
    return expr


def html_text_sql(col: str) -> str:
    """SQL expression: the text of HTML in ``col``: ``<br>`` and paragraph ends as newlines, tags removed,
    character references decoded, blanks trimmed (NULL stays NULL)."""
    breaks = f"regexp_replace({col}, '<br\\s*/?>|</p>\\s*<p[^>]*>', chr(10), 'gi')"
    no_tags = f"regexp_replace({breaks}, '<[^>]*>', '', 'g')"
    return f"trim({unescape_sql(no_tags)})"


def merge_tags_sql(listed: str, text_col: str) -> str:
    """SQL expression: hashtags of list ``listed`` followed by those of the text not already listed
    (compared case-insensitively), in order."""
    return (f"list_concat(coalesce({listed}, []), list_filter({hashtags_sql(text_col)}, "
            f"lambda t: NOT list_contains(list_transform(coalesce({listed}, []), lambda x: lower(x)), lower(t))))")


def distinct_sql(lst: str) -> str:
    """SQL expression: list ``lst`` without repeats and NULLs, first occurrences kept in order."""
    return f"list_filter({lst}, lambda x, i: x IS NOT NULL AND list_position({lst}, x) = i)"

"""Reference tables for the language-vs-location signal, as SQL ``VALUES`` lists.

* :data:`LANGUAGE_CODES`: language names as some exports write them (the IRA
  CSVs say ``English``, ``Russian``) -> ISO 639-1 codes. Codes already in
  ISO form (Twitter's ``en``, ``pt-br``) are kept by their first part.
* :data:`LOCATION_LANGUAGES`: a word or phrase of a free-text profile location
  -> the languages a person there plausibly writes in. Matching is on whole
  words of the lower-cased location. The list is deliberately small and
  generous (a country's official and widely used languages plus English for
  every place, since English is used everywhere online): a *mismatch* then
  means posts mostly in a language that has no business being there, e.g. an
  account claiming "United States" that posts mostly in Russian or German.
"""
from __future__ import annotations

LANGUAGE_CODES: dict[str, str] = {
    "english": "en", "russian": "ru", "german": "de", "french": "fr", "spanish": "es", "italian": "it",
    "arabic": "ar", "ukrainian": "uk", "portuguese": "pt", "dutch": "nl", "japanese": "ja", "chinese": "zh",
    "turkish": "tr", "polish": "pl", "swedish": "sv", "norwegian": "no", "finnish": "fi", "danish": "da",
    "czech": "cs", "romanian": "ro", "hungarian": "hu", "greek": "el", "hebrew": "he", "farsi": "fa",
    "persian": "fa", "hindi": "hi", "urdu": "ur", "indonesian": "id", "korean": "ko", "vietnamese": "vi",
    "serbian": "sr", "croatian": "hr", "bulgarian": "bg", "belarusian": "be", "estonian": "et",
    "latvian": "lv", "lithuanian": "lt", "uzbek": "uz", "kazakh": "kk", "pushto": "ps", "tagalog": "tl",
    "catalan": "ca", "thai": "th", "tagalog (filipino)": "tl", "filipino": "tl", "macedonian": "mk", "albanian": "sq", "slovak": "sk", "slovenian": "sl",
}

_US_STATES = (
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho "
    "illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota "
    "mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah "
    "vermont virginia washington wisconsin wyoming"
).split() + ["new york", "new jersey", "new mexico", "new hampshire", "north carolina", "south carolina",
             "north dakota", "south dakota", "west virginia", "rhode island", "united states", "usa", "us",
             "america", "chicago", "los angeles", "atlanta", "houston", "boston", "detroit", "seattle",
             "nyc", "philadelphia", "dallas", "miami", "baltimore"]

#: place word/phrase -> ISO 639-1 codes considered natural there (English is added for every place).
LOCATION_LANGUAGES: dict[str, tuple[str, ...]] = {
    **{s: ("en", "es") for s in _US_STATES},
    "united kingdom": ("en",), "uk": ("en",), "england": ("en",), "london": ("en",), "scotland": ("en",),
    "ireland": ("en", "ga"), "canada": ("en", "fr"), "toronto": ("en", "fr"), "australia": ("en",),
    "new zealand": ("en",), "russia": ("ru",), "russian federation": ("ru",), "moscow": ("ru",),
    "saint petersburg": ("ru",), "st petersburg": ("ru",), "ukraine": ("uk", "ru"), "kyiv": ("uk", "ru"),
    "kiev": ("uk", "ru"), "belarus": ("be", "ru"), "germany": ("de",), "deutschland": ("de",),
    "berlin": ("de",), "austria": ("de",), "switzerland": ("de", "fr", "it"), "france": ("fr",),
    "paris": ("fr",), "belgium": ("nl", "fr", "de"), "netherlands": ("nl",), "italy": ("it",),
    "spain": ("es", "ca"), "portugal": ("pt",), "brazil": ("pt",), "mexico": ("es",), "argentina": ("es",),
    "poland": ("pl",), "sweden": ("sv",), "norway": ("no",), "finland": ("fi", "sv"), "denmark": ("da",),
    "turkey": ("tr",), "israel": ("he", "ar"), "iran": ("fa",), "iraq": ("ar",), "syria": ("ar",),
    "egypt": ("ar",), "saudi arabia": ("ar",), "china": ("zh",), "japan": ("ja",), "india": ("hi",),
    "pakistan": ("ur",), "indonesia": ("id",), "korea": ("ko",), "azerbaijan": ("az", "ru"),
    "kazakhstan": ("kk", "ru"), "uzbekistan": ("uz", "ru"), "tbilisi": ("ka", "ru"),
}


def language_codes_sql() -> str:
    """``VALUES`` rows ``(name, code)`` of :data:`LANGUAGE_CODES`."""
    return ", ".join(f"('{n}', '{c}')" for n, c in LANGUAGE_CODES.items())


def location_languages_sql() -> str:
    """``VALUES`` rows ``(place, langs VARCHAR[])`` of :data:`LOCATION_LANGUAGES` (English added)."""
    rows = []
    for place, langs in LOCATION_LANGUAGES.items():
        codes = sorted(set(langs) | {"en"})
        rows.append(f"('{place}', [{', '.join(repr(c) for c in codes)}])")
    return ", ".join(rows)

"""The languages the hotline knows how to offer.

A code here may be enabled with IVR_LANGUAGES. ``fallback`` is the language whose
prompt plays when a prompt is missing in this one (the prompts catalog follows it,
then English).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.words import Words


@dataclass(frozen=True)
class Language:
    code: str
    english: str
    native: str
    fallback: str | None = None


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("my", "Burmese", "မြန်မာ", "en"),
        Language("km", "Khmer", "ខ្មែរ", "th"),
        Language("lo", "Lao", "ລາວ", "th"),
        Language("th", "Thai", "ไทย", "en"),
        Language("ne", "Nepali", "नेपाली", "en"),
        Language("vi", "Vietnamese", "Tiếng Việt", "en"),
        Language("en", "English", "English", None),
        Language("shn", "Shan", "လိၵ်ႈတႆး", "my"),
        Language("id", "Indonesian", "Bahasa Indonesia", "en"),
        Language("tl", "Filipino", "Filipino", "en"),
        Language("ko", "Korean", "한국어", "en"),
    )
}


def language_words(code: str) -> Words | str:
    """A language by its English name, for a sentence a person reads (translated when shown, like the
    ``language_name`` filter); an unknown code stays as it is."""
    lang = LANGUAGES.get(code)
    return Words(lang.english) if lang else code


def fallback_chain(code: str) -> list[str]:
    """The languages to try, in order, for a prompt in ``code``: itself, its fallbacks, English."""
    chain: list[str] = []
    current: str | None = code
    while current is not None and current not in chain:
        chain.append(current)
        current = LANGUAGES[current].fallback if current in LANGUAGES else None
    if "en" not in chain:
        chain.append("en")
    return chain

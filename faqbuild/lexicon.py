"""The FAQ's general-language lexicons (``bot/messages/faq/lexicon_{fr,en}.tsv``): word, Zipf
frequency × 10, lemma when it differs, from the ``wordfreq`` frequency lists and the ``simplemma``
dictionaries (pinned in the ``faq-build`` extra: another version gives another file)."""

from __future__ import annotations

from pathlib import Path

from bot.faq.lexicon import fold_word
from bot.faq.tuning import LEXICON_SIZE

CODES = {"fr": "fr", "en": "en"}


def build(code: str, path: Path, size: int = LEXICON_SIZE) -> None:
    """Write the lexicon of language ``code`` ("fr", "en") from wordfreq and simplemma."""
    from importlib.metadata import version

    import simplemma
    import wordfreq

    lines = [
        f"# Built by `python -m faqbuild` from wordfreq {version('wordfreq')}"
        " (frequencies; data CC BY-SA 4.0, see its README for sources)"
        f" and simplemma {version('simplemma')} (lemmas). word, zipf*10, lemma if different."
    ]
    seen: set[str] = set()
    for word in wordfreq.top_n_list(code, size):
        folded = fold_word(word)
        if not folded.isalnum() or folded in seen:
            continue  # the more frequent spelling wins ("a" over "à")
        seen.add(folded)
        zipf = round(wordfreq.zipf_frequency(word, code) * 10)
        lemma = fold_word(simplemma.lemmatize(word, lang=code))
        lines.append(f"{folded}\t{zipf}\t{lemma if lemma != folded else ''}".rstrip("\t"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

"""General-language lexicon for the FAQ matcher: how common a word is, and its lemma.

The FAQ knowledge base only knows its own words. To judge a word it has never seen, the matcher
asks this lexicon: a frequent word ("vraiment", "demande") says little about the topic and must
not make the bot abstain, while a rare one ("imprimante", "VPN") probably names something the FAQ
does not cover. Lemmas let "verront", "peux", "obligée" meet "voir", "pouvoir", "obligé".

The data is a small TSV shipped in ``bot/messages/faq/lexicon_{locale}.tsv`` (word, Zipf frequency
× 10, lemma when it differs), built once from the ``wordfreq`` frequency lists and the
``simplemma`` dictionaries by ``python -m faqbuild`` (``faqbuild/lexicon.py``, the ``faq-build``
extra). At run time nothing is downloaded and neither package is imported: loading the TSV
takes a few ms.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from importlib import resources

_SIMPLEMMA_LANG = {"french": "fr", "english": "en"}


def fold_word(word: str) -> str:
    """Lower case without accents, as the matcher's analyzer writes words."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(slots=True)
class Lexicon:
    """Zipf frequency (0 = unknown, 7 = "de") and lemma of folded words."""

    frequency: dict[str, float] = field(default_factory=dict)
    lemmas: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, language: str) -> Lexicon:
        """The lexicon shipped for ``language`` ("french", "english"); empty when there is none."""
        code = _SIMPLEMMA_LANG.get(language, language)
        source = resources.files("bot") / "messages" / "faq" / f"lexicon_{code}.tsv"
        if not source.is_file():
            return cls()
        frequency: dict[str, float] = {}
        lemmas: dict[str, str] = {}
        for line in source.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            word, zipf, *lemma = line.split("\t")
            frequency[word] = int(zipf) / 10
            if lemma and lemma[0]:
                lemmas[word] = lemma[0]
        return cls(frequency, lemmas)

    def zipf(self, word: str) -> float:
        return self.frequency.get(word, 0.0)

    def lemma(self, word: str) -> str:
        return self.lemmas.get(word, word)

    def __contains__(self, word: str) -> bool:
        return word in self.frequency

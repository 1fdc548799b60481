"""Features of a question for the FAQ's learned classifier (``bot/faq/model.py``), pure Python.

A question becomes a sparse vector of hashed features, the same at build time (training, with
scikit-learn) and at run time (scoring, without it):

* ``t``: the analyser's tokens (stems of lemmas, ``#canonical`` synonyms; typos corrected towards
  the knowledge base's vocabulary, stop words dropped): what the lexical matcher sees;
* ``b``: bigrams of those tokens ("#resultat voir", "refair parcour");
* ``w``: every normalised word, stop words included: interrogatives and pronouns carry intent
  ("qui", "quand", "combien", "je", "mon");
* ``c``: character 3–5-grams inside each word ("<resu", "ulta", "ats>"): robust to typos, SMS
  spelling and missing accents the typo corrector did not catch;
* ``u``: how many words the knowledge base never uses (after typo correction) are rare or
  uncommon in the language: a question naming "Moodle" or "ITIL" is about something else.

Each group weighs :data:`GROUP_WEIGHTS`, features are binary within a group, and the vector is
L2-normalised (a long question does not dilute or inflate its evidence). Features are hashed with
CRC-32 into :data:`BUCKETS` buckets: no vocabulary to ship, and a word never seen in training
simply finds no weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise
from zlib import crc32

from bot.faq.analyzer import Analyzer
from bot.faq.tuning import BUCKETS, CHAR_SIZES, GROUP_WEIGHTS, MAX_CHAR_WORD, UNKNOWN_ZIPFS

_HASHES: dict[str, int] = {}
_CHAR_BUCKETS: dict[str, tuple[int, ...]] = {}
HASH_CACHE_SIZE = 1 << 16


def clear_caches() -> None:
    """Forget the hashed features (the bench measures cold caches)."""
    _HASHES.clear()
    _CHAR_BUCKETS.clear()


def _hash(feature: str) -> int:
    bucket = _HASHES.get(feature)
    if bucket is None:
        if len(_HASHES) >= HASH_CACHE_SIZE:
            _HASHES.clear()
        bucket = _HASHES[feature] = crc32(feature.encode("utf-8")) & (BUCKETS - 1)
    return bucket


def _char_buckets(word: str) -> tuple[int, ...]:
    """Buckets of the character 3–5-grams of ``word`` (cached: words recur across questions)."""
    buckets = _CHAR_BUCKETS.get(word)
    if buckets is None:
        if len(_CHAR_BUCKETS) >= HASH_CACHE_SIZE:
            _CHAR_BUCKETS.clear()
        padded = f"<{word}>"
        buckets = _CHAR_BUCKETS[word] = tuple(
            {
                _hash("c" + padded[start : start + size])
                for size in CHAR_SIZES
                for start in range(len(padded) - size + 1)
            }
        )
    return buckets


def features(
    analyzer: Analyzer, question: str, tokens: Iterable[str] | None = None
) -> dict[int, float]:
    """The question's L2-normalised hashed feature vector (bucket -> value); ``tokens`` are the
    analyser's tokens of the question, when already known."""
    names: dict[str, float] = {}
    tokens = list(analyzer.weighted_tokens(question) if tokens is None else tokens)
    for token in tokens:
        names["t" + token] = GROUP_WEIGHTS["t"]
    for first, second in pairwise(tokens):
        names[f"b{first} {second}"] = GROUP_WEIGHTS["b"]
    chars: set[int] = set()
    unknown = [0] * len(UNKNOWN_ZIPFS)
    for word in analyzer.words(question):
        names["w" + word] = GROUP_WEIGHTS["w"]
        corrected = analyzer.correct(word)
        if corrected not in analyzer.known_words and not word.isdigit():
            zipf = analyzer.lexicon.zipf(word)
            for index, limit in enumerate(UNKNOWN_ZIPFS):
                unknown[index] += zipf < limit
        if len(word) <= MAX_CHAR_WORD:
            chars.update(_char_buckets(word))
    # Words the knowledge base never uses, by rarity: "Moodle", "ITIL", "concours" name
    # another subject.
    for index, count in enumerate(unknown):
        if count:
            names[f"u{index}:{min(count, 3)}"] = GROUP_WEIGHTS["u"]
    char_weight = GROUP_WEIGHTS["c"]
    vector = dict.fromkeys(chars, char_weight)
    for name, weight in names.items():
        bucket = _hash(name)
        vector[bucket] = vector.get(bucket, 0.0) + weight
    norm = math.sqrt(sum(value * value for value in vector.values()))
    if norm == 0.0:
        return {}
    return {bucket: value / norm for bucket, value in vector.items()}

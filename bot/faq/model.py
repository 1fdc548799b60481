"""The FAQ's learned classifier at run time: shipped weights, pure-Python scoring.

A small neural network over the topics and off-topic classes (``~`` and ``~area``: what is *not*
this FAQ, see ``faqbuild/model.py``): the question's hashed features (``bot/faq/features.py``)
feed one hidden layer of :data:`~bot.faq.tuning.HIDDEN` rectified units, whose output a softmax
turns into probabilities. One hidden layer, not a linear model: a word's evidence depends on
the others ("combien de temps" is the parcours's duration with "parcours", not with "pâtes";
"mon chef verra" is a results question with "score", not with "mails"), and on writers the
classifier never saw it separates topical from near-domain questions better (bench/README.md,
round 12). Trained offline on the knowledge base's phrasings and the example corpus by
``python -m faqbuild`` (scikit-learn, the ``[faq-build]`` extra) and shipped as
``bot/messages/faq/model_{locale}.bin``. Run time needs neither numpy nor scikit-learn: a
question's features select a few hundred rows of the first layer, summed column by column; the
second layer is a few thousand products.

File layout (little-endian)::

    b"PIXFAQM2" | uint32 header length | header (JSON: classes, rows, hidden, scale, digest)
    | rows x uint32 feature buckets (sorted) | rows x hidden int16 weights
    | hidden float64 biases | classes x hidden float64 weights | classes float64 biases

The first layer's weights are quantised to int16 (``weight = value * scale``): ample precision
for a sum of a few hundred. Only buckets that training saw are stored: an unseen feature has no
weight anyway. ``digest`` fingerprints the training data (:func:`training_digest`); a unit test
compares it with the files in the repository, so a stale model cannot ship unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import struct
import sys
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

MAGIC = b"PIXFAQM2"
# The off-topic class; its near-domain subclasses are named ``~area`` ("~resultats": a question
# that reads like one about results but is not about this campaign, "the score of my TOEIC").
OFF_TOPIC = "~"
# The first layer's rows at run time: one uint32 field per hidden unit, weights offset to be
# non-negative (see widened()).
FIELD = 4
OFFSET = 1 << 15
_FLIP_TOP_BIT = bytes(byte ^ 0x80 for byte in range(256))
assert array("I").itemsize == FIELD
# Bump when the features (bot/faq/features.py) or the training recipe change meaning.
FEATURES_VERSION = "3"


def is_off_topic(name: str) -> bool:
    """True for the off-topic class and its near-domain subclasses."""
    return name.startswith(OFF_TOPIC)


def is_near_domain(name: str) -> bool:
    """True for the near-domain off-topic classes (``~resultats``…), not the far one (``~``)."""
    return name.startswith(OFF_TOPIC) and name != OFF_TOPIC


def near_domain_class(topic: str) -> str:
    """The off-topic class of questions that read like ``topic``'s area but are not this FAQ's
    (``~resultats`` for ``resultats.qui_voit``)."""
    return OFF_TOPIC + topic.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class FaqModel:
    """Weights of one locale's classifier. ``classes`` are topic ids and off-topic classes
    (:func:`is_off_topic`)."""

    classes: tuple[str, ...]
    rows: Mapping[int, int]  # feature bucket -> row index of the first layer
    weights: array  # rows x hidden, int16, divided by ``scale``
    scale: float
    hidden_bias: tuple[float, ...]
    output: tuple[tuple[float, ...], ...]  # per class, its weight of each hidden unit
    bias: tuple[float, ...]  # per class
    digest: str
    _wide: bytes = field(init=False, repr=False, compare=False)  # the weights, widened()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_wide", widened(self.weights))

    def probabilities(self, vector: Mapping[int, float]) -> dict[str, float]:
        """Softmax of the class scores for a feature vector (see :func:`bot.faq.features`)."""
        # Features of a question share a few values (one per group, normalised): the rows of
        # each value are summed column by column, as integers of one field per column (see
        # widened()): one addition of big integers per row, in C, instead of one per weight.
        width = len(self.hidden_bias)
        size = FIELD * width
        by_value: dict[float, list[int]] = {}
        wide, rows, from_bytes = self._wide, self.rows, int.from_bytes
        for bucket, value in vector.items():
            row = rows.get(bucket)
            if row is not None:
                start = row * size
                by_value.setdefault(value, []).append(
                    from_bytes(wide[start : start + size], "little")
                )
        totals = [0.0] * width
        for value, selected in by_value.items():
            fields = array("I")
            fields.frombytes(sum(selected).to_bytes(size, "little"))
            if sys.byteorder != "little":  # pragma: no cover
                fields.byteswap()
            offset = OFFSET * len(selected)
            totals = [
                total + value * (column - offset)
                for total, column in zip(totals, fields, strict=True)
            ]
        scale = self.scale
        hidden = [
            max(0.0, total / scale + bias)
            for total, bias in zip(totals, self.hidden_bias, strict=True)
        ]
        scores = [
            bias + sum(map(operator.mul, hidden, column))
            for column, bias in zip(self.output, self.bias, strict=True)
        ]
        top = max(scores)
        exponentials = [math.exp(score - top) for score in scores]
        norm = sum(exponentials)
        return {name: value / norm for name, value in zip(self.classes, exponentials, strict=True)}

    @staticmethod
    def off_topic(probabilities: Mapping[str, float]) -> float:
        """The probability that the question is not this FAQ's: every off-topic class's."""
        return sum(value for name, value in probabilities.items() if is_off_topic(name))

    # -- file format ---------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        buckets = array("I", sorted(self.rows, key=self.rows.__getitem__))
        header = json.dumps(
            {
                "classes": list(self.classes),
                "rows": len(buckets),
                "hidden": len(self.hidden_bias),
                "scale": self.scale,
                "digest": self.digest,
            },
            sort_keys=True,
        ).encode("utf-8")
        parts = [
            buckets,
            self.weights,
            array("d", self.hidden_bias),
            array("d", [value for column in self.output for value in column]),
            array("d", self.bias),
        ]
        if sys.byteorder != "little":  # pragma: no cover
            parts = [array(part.typecode, part) for part in parts]
            for part in parts:
                part.byteswap()
        return b"".join(
            [MAGIC, struct.pack("<I", len(header)), header, *(part.tobytes() for part in parts)]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FaqModel:
        if data[: len(MAGIC)] != MAGIC:
            raise ValueError("not a FAQ model file (or one of an older format: python -m faqbuild)")
        offset = len(MAGIC) + 4
        (length,) = struct.unpack_from("<I", data, len(MAGIC))
        header = json.loads(data[offset : offset + length])
        offset += length
        classes = tuple(header["classes"])
        n_rows, hidden, width = int(header["rows"]), int(header["hidden"]), len(classes)
        parts: list[array] = []
        layout = (
            ("I", n_rows),
            ("h", n_rows * hidden),
            ("d", hidden),
            ("d", width * hidden),
            ("d", width),
        )
        for typecode, count in layout:
            part = array(typecode)
            end = offset + count * part.itemsize
            part.frombytes(data[offset:end])
            if sys.byteorder != "little":  # pragma: no cover
                part.byteswap()
            parts.append(part)
            offset = end
        if offset != len(data):
            raise ValueError("FAQ model file has trailing or missing bytes")
        buckets, weights, hidden_bias, output, bias = parts
        return cls(
            classes=classes,
            rows=dict(zip(buckets, range(n_rows), strict=True)),
            weights=weights,
            scale=float(header["scale"]),
            hidden_bias=tuple(hidden_bias),
            output=tuple(
                tuple(output[start : start + hidden]) for start in range(0, width * hidden, hidden)
            ),
            bias=tuple(bias),
            digest=str(header["digest"]),
        )


def widened(weights: array) -> bytes:
    """The first layer's int16 weights as little-endian uint32 fields holding ``weight + OFFSET``
    (0 to 65,535): a row read as one integer adds to other rows field by field without a carry
    crossing fields (up to 65,536 rows, far more than a question selects; a sum that overflowed
    the last field would not fit ``to_bytes`` and raise). Built with slices, in C: adding 2**15
    to an int16 flips the high byte's top bit."""
    raw = weights.tobytes()
    if sys.byteorder != "little":  # pragma: no cover
        swapped = array("h", weights)
        swapped.byteswap()
        raw = swapped.tobytes()
    wide = bytearray(2 * len(raw))
    wide[0::FIELD] = raw[0::2]
    wide[1::FIELD] = raw[1::2].translate(_FLIP_TOP_BIT)
    return bytes(wide)


def model_path(locale: str) -> Path:
    return Path(str(resources.files("bot") / "messages" / "faq" / f"model_{locale}.bin"))


def load_model(locale: str) -> FaqModel | None:
    """The shipped classifier of ``locale``, or None when the locale has none."""
    path = model_path(locale)
    if not path.is_file():
        return None
    return FaqModel.from_bytes(path.read_bytes())


def training_digest(files: Iterable[Path]) -> str:
    """Fingerprint of the training data: the features' version and each file's name and bytes
    (the knowledge bases and the question sets), in the given order."""
    digest = hashlib.sha256(FEATURES_VERSION.encode("utf-8"))
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()

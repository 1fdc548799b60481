"""Rebuild every FAQ artefact from the repository, in order: ``python -m faqbuild``.

1. the lexicons ``lexicon_{fr,en}.tsv`` (wordfreq, simplemma);
2. the example corpus ``examples_{fr,en}.tsv`` (the training sets of ``faqdata/``, analysed);
3. the classifiers ``model_{fr,en}.bin`` (scikit-learn);
4. the answer-or-abstain calibration ``decision.json`` (held-out folds, see calibrate.py).

All go to ``bot/messages/faq/``. Needs the ``faq-build`` extra (pinned: other versions give other
files). ``--check`` rebuilds, reports every artefact that differs from the shipped one, restores
the shipped files and exits 1 on a difference. A step's inputs are the previous steps' outputs,
so the steps always run in this order; ``--from STEP`` skips the earlier ones (their shipped files
are then the inputs).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.faq.language import LOCALES
from bot.faq.model import model_path
from faqbuild import calibrate, corpus, lexicon, model

FAQ = corpus.REPO / "bot" / "messages" / "faq"
STEPS = ("lexicon", "examples", "model", "calibration")


def build_lexicons() -> None:
    for locale in LOCALES:
        lexicon.build(lexicon.CODES[locale], FAQ / f"lexicon_{locale}.tsv")


def build_examples() -> None:
    for locale, text in corpus.build().items():
        corpus.target(locale).write_text(text, encoding="utf-8")


def build_models() -> None:
    for locale in LOCALES:
        model_path(locale).write_bytes(model.build(locale).to_bytes())


def build_calibration() -> None:
    found = calibrate.calibrate(calibrate.fold_groups())
    shipped = calibrate.Calibration(found.trees, found.bias, found.threshold, calibrate.digest())
    (FAQ / "decision.json").write_text(shipped.to_json(), encoding="utf-8")


BUILDERS: dict[str, Callable[[], None]] = {
    "lexicon": build_lexicons,
    "examples": build_examples,
    "model": build_models,
    "calibration": build_calibration,
}


def artefacts() -> list[Path]:
    names = ["decision.json"] + [
        f"{kind}_{locale}.{ext}"
        for locale in LOCALES
        for kind, ext in (("lexicon", "tsv"), ("examples", "tsv"), ("model", "bin"))
    ]
    return [FAQ / name for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a shipped file differs")
    parser.add_argument("--from", dest="start", choices=STEPS, default=STEPS[0])
    args = parser.parse_args(argv)
    before = {path: path.read_bytes() if path.exists() else None for path in artefacts()}
    for step in STEPS[STEPS.index(args.start) :]:
        started = time.perf_counter()
        BUILDERS[step]()
        print(f"{step}: {time.perf_counter() - started:.0f} s", flush=True)
    changed = [path for path, data in before.items() if path.read_bytes() != data]
    for path in changed:
        print(f"{'differs' if args.check else 'rebuilt'}: {path.relative_to(corpus.REPO)}")
    if args.check:
        for path in changed:
            data = before[path]
            if data is None:
                path.unlink()
            else:
                path.write_bytes(data)
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

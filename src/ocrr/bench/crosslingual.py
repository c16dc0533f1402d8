"""A cross-lingual check of an encoder: train on English intent queries, test on French,
German and Spanish ones (``python -m ocrr.bench.crosslingual ENCODER ...``).

The queries ship in ``data/ha_intents_queries.csv.gz`` (882 rows: 207 English, 219 French,
230 German, 226 Spanish; 23 intents, at most 10 a language and intent). They were expanded
from the sentence templates of the ``home-assistant-intents`` package (2026.10.27,
Apache-2.0, ``data/ha_intents_LICENSE.md``) with its own parser, ``hassil`` 3.12.1:
templates written by people for each language, not translations of one another and not
machine-made; only templates whose slots all have values in the package were used (no
``{area}`` or ``{name}``), at most 50 expansions each, and texts with an unexpanded range
left out. How the file was made is :func:`build_queries` (needs ``hassil`` and
``home-assistant-intents``; neither is needed to read the file).

The score is the accuracy on each other language of a logistic regression (the encoder
table's ceiling, :func:`~ocrr.bench.encoder_figures.logistic_ceiling`) and of the
nearest English example (cosine, 1-NN: what a substrate holding only the English rows
answers with k = 1).

Examples
--------
>>> rows = load_queries()
>>> len(rows), sorted({r[0] for r in rows})
(882, ['de', 'en', 'es', 'fr'])
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import sys
from collections.abc import Sequence
from importlib import resources

import numpy as np

DATA = "data/ha_intents_queries.csv.gz"
LANGUAGES = ("en", "fr", "de", "es")


def load_queries() -> list[tuple[str, str, str]]:
    """The shipped rows: (language, intent, text)."""
    raw = resources.files("ocrr.bench").joinpath(DATA).read_bytes()
    reader = csv.reader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    next(reader)
    return [(lang, intent, text) for lang, intent, text in reader]


def crosslingual_accuracy(encoder: str, *, cache_dir: str | None = None
                          ) -> dict[str, tuple[float, float]]:
    """Language -> (logistic regression, nearest example) accuracy, trained on English."""
    from ocrr.bench.encoder_figures import logistic_ceiling
    from ocrr.encoders import get_encoder

    rows = load_queries()
    enc = get_encoder(encoder, cache_dir=cache_dir)
    by_lang = {lang: [r for r in rows if r[0] == lang] for lang in LANGUAGES}
    train = by_lang["en"]
    X = enc.encode([r[2] for r in train])
    y = [r[1] for r in train]
    scores = {}
    for lang in LANGUAGES[1:]:
        T = enc.encode([r[2] for r in by_lang[lang]])
        ty = np.asarray([r[1] for r in by_lang[lang]])
        logreg = logistic_ceiling(X, y, T, list(ty))
        nearest = np.asarray(y)[(T @ X.T).argmax(axis=1)]
        scores[lang] = (logreg, float(np.mean(nearest == ty)))
    return scores


def build_queries(per_intent: int = 10, per_template: int = 50) -> list[tuple[str, str, str]]:
    """Expand home-assistant-intents' templates into the shipped rows (see the module)."""
    import itertools

    from hassil.intents import Intents
    from hassil.sample import sample_sentence
    from home_assistant_intents import get_intents

    found: dict[str, dict[str, set[str]]] = {}
    for lang in LANGUAGES:
        if (templates := get_intents(lang)) is None:
            raise ValueError(f"home-assistant-intents has no {lang!r} templates")
        intents = Intents.from_dict(templates)
        texts: dict[str, set[str]] = {}
        for name, intent in intents.intents.items():
            for data in intent.data:
                rules = {**intents.expansion_rules, **(data.expansion_rules or {})}
                for sentence in data.sentences:
                    lists = sentence.list_names(rules)
                    if any(n not in intents.slot_lists or n in data.wildcard_list_names
                           for n in lists):
                        continue
                    for text in itertools.islice(sample_sentence(
                            sentence, intents.slot_lists, rules, language=lang,
                            expand_ranges=False), per_template):
                        if "{" not in text and "}" not in text:
                            texts.setdefault(name, set()).add(text.strip())
        found[lang] = texts
    common = sorted(set.intersection(*(set(found[lang]) for lang in LANGUAGES)))
    rows = []
    for lang in LANGUAGES:
        for name in common:
            chosen = sorted(found[lang][name])
            random.Random(f"{lang}:{name}").shuffle(chosen)
            rows += [(lang, name, text) for text in chosen[:per_intent]]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    import os

    names = list(argv if argv is not None else sys.argv[1:]) or ["minilm", "use-multilingual"]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in names:
        for lang, (logreg, nearest) in crosslingual_accuracy(name).items():
            print(f"{name}: en -> {lang}: logistic regression {logreg:.3f}, "
                  f"nearest example {nearest:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

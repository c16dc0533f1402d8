"""``ocrr abstain``: choose the abstention threshold on CLINC150 and report what it does."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from ocrr.substrate.vote import VOTE_RULES


def add_parser(sub: argparse._SubParsersAction) -> None:
    abstain = sub.add_parser(
        "abstain",
        help="choose an abstention threshold on CLINC150's validation split and report "
        "in-scope accuracy and out-of-scope recall on its test split",
        description="Fit the substrate on CLINC150's in-scope training queries, choose the "
        "confidence threshold on val + oos_val (maximising the mean of in-scope accuracy "
        "and out-of-scope recall), and report both on test + oos_test. Set the threshold "
        "on a namespace with PATCH /v1/namespaces/{ns} or Client.set_threshold.",
    )
    abstain.add_argument("--encoder", default="default",
                         help="'default' (offline all-MiniLM-L6-v2), 'tfidf', or a "
                         "sentence-transformers name or folder")
    abstain.add_argument("--cache-dir", default=None, help="embedding cache folder")
    abstain.add_argument("--vote", choices=list(VOTE_RULES), default="hybrid",
                         help="vote rule (default: hybrid, the library's; its confidence is "
                         "the mixture probability)")
    abstain.add_argument("--out", default=None, help="also write the figures as JSON here")
    abstain.set_defaults(handler=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ocrr.bench.abstention import evaluate

    print(f"CLINC150, encoder {args.encoder} (encoding is cached after the first run)",
          flush=True)
    report = evaluate(args.encoder, cache_dir=args.cache_dir, vote=args.vote, progress=True)
    for line in report.lines():
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps(asdict(report), indent=2) + "\n",
                                  encoding="utf-8")
    return 0

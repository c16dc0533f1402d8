"""The service's commands, hooked into ``ocrr`` in one place: ``serve`` and ``keys``
(:mod:`ocrr.cli.serve`), ``namespace`` (:mod:`ocrr.cli.namespace`), ``load``
(:mod:`ocrr.cli.load`) and ``abstain`` (:mod:`ocrr.cli.abstain`)."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from ocrr.cli import abstain, load, namespace, serve

    serve.add_parser(sub)
    namespace.add_parser(sub)
    load.add_parser(sub)
    abstain.add_parser(sub)

"""Helpers for the tests that run real server processes (replicas, kill -9): the hashing
encoder on the children's path, and small HTTP calls."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from ocrr.server.process import ServerProcess

TESTS = Path(__file__).resolve().parent


def server(where: str, log: Path, *extra: str) -> ServerProcess:
    """``ocrr serve`` on ``where`` with the tiny hashing encoder (tests/server_fakes.py)."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return ServerProcess(where, encoder_factory="server_fakes:hashing_encoder",
                         extra_args=["--rate-limit", "0", *extra], log_path=log,
                         env={"PYTHONPATH": path})


def http(process: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=process.url, timeout=30.0,
                        headers={"Authorization": f"Bearer {key}"})


def all_entries(client: httpx.Client, namespace: str) -> list[dict]:
    entries, start = [], 0
    while start is not None:
        page = client.get(f"/v1/namespaces/{namespace}/entries",
                          params={"start": start, "limit": 500}).json()
        entries += page["entries"]
        start = page["next"]
    return entries

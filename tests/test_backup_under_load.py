"""A backup taken while a real server appends corrections as fast as they are acknowledged
(as ``ocrr load``'s writers do) restores to a ledger that verifies and holds every
correction acknowledged before the backup began, with the live ledger's hashes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ocrr.ledger import Ledger
from ocrr.server.backup import backup, restore
from ocrr.server.registry import Registry
from server_processes import http, server
from server_support import SEED


def test_backup_under_write_traffic_restores_every_acknowledged_correction(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    registry = Registry(data)
    registry.create_namespace("support")
    key = registry.create_key("write", "support")[0]
    registry.close()
    acked: list[tuple[float, int, str]] = []  # (when acknowledged, seq, entry hash)
    stop = threading.Event()
    with server(str(data), tmp_path / "server.log").start() as process:
        def write(worker: int) -> None:
            with http(process, key) as client:
                n = 0
                while not stop.is_set():
                    text, label = SEED[n % len(SEED)]
                    answer = client.post("/v1/namespaces/support/corrections",
                                         json={"text": f"{text} {worker}-{n}", "label": label})
                    assert answer.status_code == 201, answer.text
                    body = answer.json()
                    acked.append((time.monotonic(), body["seq"], body["entry_hash"]))
                    n += 1

        writers = [threading.Thread(target=write, args=(i,)) for i in range(2)]
        for thread in writers:
            thread.start()
        while len(acked) < 40:
            time.sleep(0.05)
        began = time.monotonic()
        copies = backup(data, tmp_path / "backup")
        during = len(acked)
        time.sleep(0.3)  # traffic goes on after the copy
        stop.set()
        for thread in writers:
            thread.join()
    assert len(acked) > during  # the server kept writing during and after the copy
    restored = restore(tmp_path / "backup", tmp_path / "restored")
    assert restored == copies
    size = copies[0].size
    with Ledger.open(tmp_path / "restored" / "namespaces" / "support.db",
                     create=False) as ledger:
        assert ledger.verify().ok and len(ledger) == size
        hashes = {seq: ledger.store[seq].entry_hash.hex() for seq in range(size)}
    before = [(seq, h) for when, seq, h in acked if when < began]
    assert before and all(hashes.get(seq) == h for seq, h in before)
    # everything in the copy is what the live ledger holds at those positions
    with Ledger.open(data / "namespaces" / "support.db", create=False) as live:
        assert all(live.store[seq].entry_hash.hex() == h for seq, h in hashes.items())
        assert len(live) == len(acked) >= size

"""The README's five commands, "CSV → served namespace → corrections → console", run as
written in bash: ``ocrr`` stands for this checkout's command line with the tiny hashing
encoder (no model to load), the server listens on a free port instead of 8000, and the
script waits for it to be up after ``ocrr serve &``."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from ocrr.server.process import free_port
from server_support import SEED

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FAKE = "--encoder-factory server_fakes:hashing_encoder"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- csv-to-console:start -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md lost its csv-to-console block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_path_from_a_csv_to_the_console(tmp_path: Path) -> None:
    commands = readme_commands()
    assert len(commands) == 5
    with open(tmp_path / "train.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(SEED)
    port = free_port()
    script = [
        "set -e",
        f'ocrr() {{ case "$1" in'
        f' namespace) "{sys.executable}" -m ocrr.cli.main "$@" {FAKE} ;;'
        # exec: "ocrr serve &" then leaves the server itself as $!, which the test stops
        f' serve) exec "{sys.executable}" -m ocrr.cli.main "$@" {FAKE} --port {port}'
        " --rate-limit 0 ;;"
        f' *) "{sys.executable}" -m ocrr.cli.main "$@" ;; esac; }}',
    ]
    for command in commands:
        script.append(command.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
        if command.startswith("ocrr serve"):
            script += ["SERVER=$!", "echo $SERVER > server.pid",
                       f"for i in $(seq 600); do curl -sf http://127.0.0.1:{port}/v1/health"
                       " >/dev/null && break; sleep 0.2; done"]
    script.append('echo; echo "KEY=$KEY"')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    try:  # into files, not pipes: the server in the background keeps its output open
        with open(out, "w") as stdout, open(err, "w") as stderr:
            done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env,
                                  stdout=stdout, stderr=stderr, timeout=300)
        assert done.returncode == 0, err.read_text()[-3000:]
        lines = out.read_text().strip().splitlines()
        receipt = json.loads(lines[-2])
        assert receipt["label"] == "close_account" and receipt["seq"] == len(SEED)
        key = lines[-1].removeprefix("KEY=")
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(f"{base}/v1/namespaces/support/predict", headers=auth,
                            json={"text": "please close my account"}).json()
        assert answer["label"] == "close_account"
        first = httpx.get(f"{base}/v1/namespaces/support/entries?limit=1", headers=auth).json()
        assert first["entries"][0]["provenance"]["source"] == "fit"
        console = httpx.get(f"{base}/")
        assert console.status_code in (200, 303) and "text/html" in console.headers.get(
            "content-type", "text/html")
    finally:
        pid = tmp_path / "server.pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], check=False)

"""Local provider figures: up-to-ready time, errors during a rolling update under load.

Run: python benchmarks/local_bench.py

Uses a throwaway PEPPERPY_CLOUD_HOME and a tiny ASGI app. Traffic goes to 127.0.0.1 only,
bounded in time. The rollout load runs wrk (Debian package) when present, else httpx threads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

APP = '''
import os
VERSION = "{version}"
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}})
    await send({{"type": "http.response.body", "body": VERSION.encode()}})
'''
STACK = "name: bench\nservices:\n  web:\n    source: .\n    entry_point: app.py\n    replicas: {min: 2, max: 2}\n"


def write(folder: Path, version: str) -> None:
    (folder / "app.py").write_text(APP.format(version=version))
    (folder / "requirements.txt").write_text("uvicorn\n")
    (folder / "pepperpy.yaml").write_text(STACK)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="pepperpy-bench-"))
    os.environ["PEPPERPY_CLOUD_HOME"] = str(home)
    from pepperpy.cloud.providers.local.runtime import LocalRuntime
    from pepperpy.cloud.providers.local.supervisor import Supervisor
    from pepperpy.cloud.spec.stack import Stack

    app = home / "app"
    app.mkdir()
    write(app, "v1")
    runtime = LocalRuntime()
    try:
        start = time.perf_counter()
        runtime.deploy(Stack.from_file(app / "pepperpy.yaml"), stack_dir=app)
        cold = time.perf_counter() - start
        runtime.down("bench")
        start = time.perf_counter()
        result = runtime.deploy(Stack.from_file(app / "pepperpy.yaml"), stack_dir=app)[0]
        warm = time.perf_counter() - start
        print(f"up to all replicas ready (2 replicas): {cold:.2f} s with a cold build, {warm:.2f} s with a warm cache")

        write(app, "v2")
        outcome: dict[str, str] = {}

        def load() -> None:
            if shutil.which("wrk"):
                out = subprocess.run(["wrk", "-t2", "-c16", "-d12s", "--latency", result.url + "/"],
                                     capture_output=True, text=True, timeout=60).stdout
                outcome["wrk"] = out

        loader = threading.Thread(target=load)
        loader.start()
        time.sleep(2)
        start = time.perf_counter()
        runtime.deploy(Stack.from_file(app / "pepperpy.yaml"), stack_dir=app)
        rollout = time.perf_counter() - start
        loader.join()
        out = outcome.get("wrk", "")
        total = re.search(r"(\d+) requests in", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        socket_errors = re.search(r"Socket errors: (.*)", out)
        print(f"rolling update under load took {rollout:.2f} s; wrk: {total.group(1) if total else '?'} requests, "
              f"{errors.group(1) if errors else 0} non-2xx, socket errors: "
              f"{socket_errors.group(1) if socket_errors else 'none'}")
    finally:
        try:
            runtime.down("bench")
        finally:
            Supervisor(home).shutdown()
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

"""One process of the concurrent-build test: ``python cache_job.py SOURCE CACHE_DIR LOG N``.

The N processes wait for each other (files ``LOG.ready-PID``), then all open the token cache of
SOURCE at once. The build step appends a line to LOG and sleeps a second before building, so
the others must find the lock taken. Prints the sha256 of the ids file and the token count.
"""

import hashlib
import importlib
import os
import sys
import time
from pathlib import Path

from rnnkit.data import cache_build

module = importlib.import_module("rnnkit.data.token_cache")  # the package exports a function

source, folder, log, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
build = cache_build.build


def slow_build(*args, **kwargs):
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(1.0)
    return build(*args, **kwargs)


module.build = slow_build  # the module imported the name: patch it there
Path(f"{log}.ready-{os.getpid()}").touch()
deadline = time.time() + 60
while len(list(log.parent.glob(f"{log.name}.ready-*"))) < n and time.time() < deadline:
    time.sleep(0.01)
cache = module.token_cache(source, root=folder, progress=True, workers=1)
print(hashlib.sha256(cache.ids_path.read_bytes()).hexdigest(), cache.num_tokens)

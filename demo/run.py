"""Start the demo hub in ./.demo (state survives restarts) and print how to log in."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
state = here.parent / ".demo"
state.mkdir(mode=0o700, exist_ok=True)
password_file = state / "password"
if not password_file.exists():
    password_file.write_text(secrets.token_urlsafe(12))
    password_file.chmod(0o600)
password = password_file.read_text().strip()

print(
    "\n  batchspawner_x demo: open http://127.0.0.1:8000 and log in as alice (or bob)\n"
    f"  password: {password}   (kept in {password_file})\n"
    "  Each server runs as a Slurm job: watch it with `squeue`. Ctrl-C stops the hub.\n",
    flush=True,
)
os.chdir(state)
os.environ["BSX_DEMO_PASSWORD"] = password
os.execv(
    sys.executable,
    [sys.executable, "-m", "jupyterhub", "-f", str(here / "jupyterhub_config.py"), *sys.argv[1:]],
)

"""JupyterLab's view of the batch job a batchspawner_x server runs in.

The server part (:mod:`batchspawner_x_lab.handlers`) answers ``GET {base_url}batchspawner-x/job``
from the hub's job API and the job's events file; the front end (the prebuilt extension in
``labextension/``) shows the time left in the status bar and warns before the end.
Standard library, tornado and jupyter_server only: the hub package is not needed on the node.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt front end lies in the package (``jupyter labextension list`` reads it)."""
    return [{"src": "labextension", "dest": "batchspawner-x-lab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The server extension: this module, loaded by :func:`_load_jupyter_server_extension`."""
    return [{"module": "batchspawner_x_lab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the ``batchspawner-x/job`` handler to a running jupyter_server."""
    from .handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("batchspawner_x_lab: serving %sbatchspawner-x/job", serverapp.base_url)

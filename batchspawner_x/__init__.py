"""batchspawner_x: JupyterHub spawners that run notebook servers as batch jobs.

The spawner classes are imported lazily, so that the node-side command
(``batchspawner-x-singleuser``) starts without loading JupyterHub.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: The hub page templates (the home page's time left, the jobs page): a site enables them
#: with ``c.JupyterHub.template_paths = [batchspawner_x.hub_templates]``.
hub_templates = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates_hub")

_LAZY = {
    "BatchSpawnerBase": "batchspawner_x.spawner",
    "SlurmSpawner": "batchspawner_x.spawners",
    "PBSSpawner": "batchspawner_x.spawners",
    "TorqueSpawner": "batchspawner_x.spawners",
    "MoabSpawner": "batchspawner_x.spawners",
    "GridengineSpawner": "batchspawner_x.spawners",
    "LsfSpawner": "batchspawner_x.spawners",
    "CondorSpawner": "batchspawner_x.spawners",
}

if TYPE_CHECKING:
    from .spawner import BatchSpawnerBase
    from .spawners import (
        CondorSpawner,
        GridengineSpawner,
        LsfSpawner,
        MoabSpawner,
        PBSSpawner,
        SlurmSpawner,
        TorqueSpawner,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'batchspawner_x' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BatchSpawnerBase",
    "CondorSpawner",
    "GridengineSpawner",
    "LsfSpawner",
    "MoabSpawner",
    "PBSSpawner",
    "SlurmSpawner",
    "TorqueSpawner",
    "__version__",
    "hub_templates",
]

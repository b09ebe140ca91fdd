"""Sphinx configuration: MyST Markdown pages and a configuration reference from the traits.

Build with ``nox -s docs`` (warnings are errors).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import batchspawner_x  # noqa: E402

project = "batchspawner_x"
author = "batchspawner_x developers"
copyright = "batchspawner_x developers"
version = release = batchspawner_x.__version__

extensions = ["myst_parser", "autodoc_traits", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "cookbook", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"

html_theme = "furo"
html_title = f"batchspawner_x {release}"

#: The marker in reference.md that the spawner classes' sections replace.
SPAWNER_MARKER = "<!-- spawner classes -->"


def spawner_classes() -> list[str]:
    """Every public spawner class of the package, base class first (as registered in ``_LAZY``)."""
    from batchspawner_x.spawner import BatchSpawnerBase

    names = []
    for name, module in batchspawner_x._LAZY.items():
        cls = getattr(importlib.import_module(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BatchSpawnerBase):
            names.append(name)
    return sorted(names, key=lambda n: (n != "BatchSpawnerBase", n))


def autoconfigurable(path: str) -> str:
    """An ``autoconfigurable`` block showing only the settings ``path``'s class defines itself."""
    from batchspawner_x.spawner import BatchSpawnerBase
    from batchspawner_x.spawner_clusters import ClusterChoice
    from batchspawner_x.spawner_traits import SpawnerTraits

    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if cls is not BatchSpawnerBase and issubclass(cls, BatchSpawnerBase):
        # what the spawner adds to the base, also through a shared mixin (Torque, Moab)
        inherited = sorted(BatchSpawnerBase.class_traits(config=True))
    else:
        own = set(cls.class_own_traits(config=True))
        if cls is BatchSpawnerBase:  # its settings are declared one layer down, in SpawnerTraits
            own |= set(SpawnerTraits.class_own_traits(config=True))
        if cls is BatchSpawnerBase:  # documented in its own section
            own -= set(ClusterChoice.class_own_traits(config=True))
        inherited = sorted(set(cls.class_traits(config=True)) - own)
    lines = ["```{eval-rst}", f".. autoconfigurable:: {path}"]
    if inherited:
        lines.append(f"   :exclude-members: {', '.join(inherited)}")
    return "\n".join([*lines, "```", ""])


def spawner_reference() -> str:
    """One section per spawner class, each with the settings that class adds."""
    parts = [
        f"## {name}\n\n{autoconfigurable(f'{batchspawner_x._LAZY[name]}.{name}')}"
        for name in spawner_classes()
    ]
    parts.append(
        "## Several clusters\n\n"
        "The clusters of a hub that runs servers on more than one (``c.BatchSpawnerBase.clusters``); "
        "see [several clusters](clusters.md).\n\n"
        + autoconfigurable("batchspawner_x.spawner_clusters.ClusterChoice")
    )
    parts.append(
        "## Reaching the servers\n\n"
        "Settings of every spawner class (``c.BatchSpawnerBase.<name>``) for clusters whose "
        "compute nodes the hub cannot simply reach; see [networking](networking.md).\n\n"
        + autoconfigurable("batchspawner_x.reach.ReachMixin")
    )
    parts.append(
        "## Cluster accounts\n\n"
        "Settings of every spawner class (``c.BatchSpawnerBase.<name>``) that say which cluster "
        "accounts the hub may act as; see [security](security.md).\n\n"
        + autoconfigurable("batchspawner_x.accounts.AccountsMixin")
    )
    parts.append(
        "## Predecessor names (deprecated)\n\n"
        "Accepted on every spawner class, each with a warning naming its replacement; "
        "see [the migration guide](migration.md).\n\n"
        + autoconfigurable("batchspawner_x.compat.PredecessorConfig")
    )
    return "\n".join(parts)


def _fill_reference(app: Any, docname: str, source: list[str]) -> None:
    if docname == "reference" and SPAWNER_MARKER in source[0]:
        source[0] = source[0].replace(SPAWNER_MARKER, spawner_reference())


def _settings_in_source_order() -> type:
    """``autoconfigurable``, listing BatchSpawnerBase's settings in the order they are declared.

    They are declared one layer down (``SpawnerTraits``), where autodoc's ``bysource`` order
    does not look for them."""
    from autodoc_traits import ConfigurableDocumenter

    from batchspawner_x.spawner import BatchSpawnerBase
    from batchspawner_x.spawner_clusters import ClusterChoice
    from batchspawner_x.spawner_traits import SpawnerTraits

    own = SpawnerTraits.class_own_traits()  # (sorted by name)
    order = {name: i for i, name in enumerate(n for n in vars(SpawnerTraits) if n in own)}

    class Documenter(ConfigurableDocumenter):
        def sort_members(self, documenters: list[Any], order_name: str) -> list[Any]:
            documenters = super().sort_members(documenters, order_name)
            if self.object is BatchSpawnerBase and order_name == "bysource":
                documenters.sort(key=lambda e: order.get(e[0].name.rpartition(".")[2], len(order)))
            return documenters

    return Documenter


def setup(app: Any) -> None:
    app.connect("source-read", _fill_reference)
    app.add_autodocumenter(_settings_in_source_order(), override=True)

"""The spawner's named environments and what the cluster reads for a profile's fields.

The settings :attr:`EnvironmentChoice.environments` and
:attr:`EnvironmentChoice.default_environment`
(see :mod:`batchspawner_x.environments`), the checks that tie profiles to them and to
their scheduler's capabilities, and the reading of the lists a profile offers from the
cluster (reservations the user may use, the user's accounts and QOS; see
:mod:`batchspawner_x.profile_scheduling`), cached per cluster account like the
partitions (:meth:`~batchspawner_x.cluster.Cluster.reading`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traitlets import Dict, TraitError, Unicode, validate

from . import environments as environment_model
from .environments import Environment
from .errors import ConfigError
from .profile_scheduling import ClusterLists, check_supported
from .profiles import Choice, Profile
from .schedulers.base import Scheduler
from .spawner_traits import SpawnerTraits


class EnvironmentChoice(SpawnerTraits):
    """The ``environments`` and ``default_environment`` settings, and the per-profile checks."""

    environments = Dict(
        config=True,
        help="""Named environments the single-user server runs in, by name; empty (the
        default) for none: the job runs ``cmd`` as the node's login environment finds it.

        Each entry is a dict: ``display_name``, ``description``, ``setup`` (shell lines run
        before the server starts, as a string or a list of lines: ``module load ...``,
        ``source /opt/conda/etc/profile.d/conda.sh`` and ``conda activate ...``), ``cmd``
        (the server command in place of ``Spawner.cmd``, as a list), and ``wrap`` (a command
        the server runs inside, as a list, such as ``["apptainer", "exec", "--bind",
        "{job_dir}", "/opt/images/jupyter.sif"]``; ``{job_dir}``, ``{home}`` and
        ``{workdir}`` become the job's paths). Names are 1-40 characters of ``a-z``,
        ``0-9``, ``.``, ``_`` and ``-``. A profile offers one or a list (its
        ``environments`` key, the first the default), and users choose among those by name
        only (``user_options["environment"]``); the text is the site's and goes into the
        script as written, once checked for what would break it (control characters, the
        job script's here-document end line). See docs/environments.md.

        Example::

            c.BatchSpawnerBase.environments = {
                "py311": {"display_name": "Python 3.11",
                          "setup": "module load python/3.11 jupyterlab/4.2"},
                "torch": {"display_name": "PyTorch 2.5 (container)",
                          "wrap": ["apptainer", "exec", "--nv", "--bind", "{job_dir}",
                                   "/opt/images/torch-2.5.sif"]},
            }
        """,
    )
    default_environment = Unicode(
        "",
        config=True,
        help="""The environment (a name in :attr:`environments`) of a spawn whose profile
        offers none, or of every spawn without profiles; empty for none.
        Example: ``"py311"``. (JupyterHub's own ``Spawner.environment`` is the server's
        environment variables, unrelated.)""",
    )

    @validate("environments")
    def _check_environments(self, proposal: Any) -> dict[str, Any]:
        try:
            environment_model.parse_environments(proposal["value"])
        except ConfigError as e:
            raise TraitError(str(e)) from None
        return dict(proposal["value"])

    def site_environments(self) -> dict[str, Environment]:
        """The site's environments, checked, by name; and the default one named in them."""
        found = environment_model.parse_environments(self.environments)
        if self.default_environment:
            environment_model.check_environment_names(
                "default_environment", [self.default_environment], found
            )
        return found

    def chosen_environment(self, choice: Choice) -> Environment | None:
        """The environment of a spawn: its profile's choice, else :attr:`default_environment`."""
        name = choice.environment or self.default_environment
        if not name:
            return None
        found = self.site_environments()
        environment_model.check_environment_names("environment", [name], found)
        return found[name]

    def check_profile_environments(self, profiles: Iterable[Profile]) -> None:
        """Refuse a profile that offers an environment the site does not define (and a
        :attr:`default_environment` that names none)."""
        found = self.site_environments()
        for p in profiles:
            where = f"profiles[{p.name}].environments"
            environment_model.check_environment_names(where, p.environments, found)

    def check_profile_settings(self, profiles: Iterable[Profile], scheduler_of: Any) -> None:
        """Refuse a profile that offers an environment the site does not define, or sets a
        scheduling setting its cluster's scheduler has no equivalent for.
        ``scheduler_of(profile)`` is the scheduler class the profile's jobs go to."""
        profiles = list(profiles)
        self.check_profile_environments(profiles)
        for p in profiles:
            scheduler: type[Scheduler] = scheduler_of(p)
            check_supported(
                f"profiles[{p.name}]", p.scheduling, scheduler.scheduling_supported(), scheduler.display_name
            )


def lists_wanted(profiles: Iterable[Profile]) -> tuple[bool, bool]:
    """Whether any of ``profiles`` offers the cluster's reservations, and whether any
    offers the cluster's accounts or QOS (so the spawner reads them; else it does not)."""
    reservations = associations = False
    for p in profiles:
        fields = p.scheduling.fields
        reservations |= "reservation" in fields and fields["reservation"].from_cluster
        associations |= any(s in fields and fields[s].from_cluster for s in ("account", "qos"))
    return reservations, associations


__all__ = ["ClusterLists", "EnvironmentChoice", "lists_wanted"]

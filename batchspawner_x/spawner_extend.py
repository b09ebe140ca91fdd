"""The spawner's part in extending a running job's time limit (see :mod:`.extension`).

The settings that turn it on (an operator identity, a step, a cap) and
:meth:`WalltimeExtension.extend_walltime`, which reads the job's current limit from the
scheduler, raises it by one step (at most to the cap) as the operator, over the cluster's
pooled SSH connections, and reads the status again so that the job API shows the new limit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from traitlets import List, TraitError, Unicode, validate

from .errors import ConfigError, ExtendRefused, TransportError
from .extension import make_offer, plan_extension
from .job_info import ExtendOffer, JobInfo, describe_duration
from .spawner_core import SpawnerCore
from .transport import Transport
from .units import check_walltime, optional_walltime_seconds


class WalltimeExtension(SpawnerCore):
    """Settings and steps of extending a job's time limit from the hub."""

    walltime_operator_username = Unicode(
        "",
        config=True,
        help="""The cluster account that raises a running job's time limit when its user asks
        to extend the session; empty (the default) turns extending off.

        The scheduler must let this account change other users' jobs: on Slurm an account
        with ``AdminLevel=Operator`` (``sacctmgr modify user NAME set adminlevel=Operator``,
        which needs slurmdbd); a job's owner may not raise a running job's limit. The hub runs
        only ``scontrol update JobId=N TimeLimit=...`` as this account, for a job of the user
        who asked, up to :attr:`max_walltime`. Its key is the hub's, like
        :attr:`status_ssh_username`'s, never a user's. Example: ``"jupyter-operator"``.""",
    )
    walltime_operator_keys = List(
        Unicode(),
        config=True,
        help="""Private key files of :attr:`walltime_operator_username`; empty to use
        :attr:`ssh_keys` with ``{username}`` replaced by that account's name. Keep them
        readable by the hub's account only.""",
    )
    walltime_extension_step = Unicode(
        "01:00:00",
        config=True,
        help="""How much one extension adds to a job's time limit, as a walltime
        (``HH:MM:SS``, ``D-HH:MM:SS`` or minutes). Example: ``"00:30:00"`` adds half an hour per
        click. The last step before :attr:`max_walltime` may be shorter. Empty turns extending
        off.""",
    )
    max_walltime = Unicode(
        "",
        config=True,
        help="""The most walltime a job may reach by extending it, in all, as a walltime
        (``"08:00:00"``); a profile's own ``max_walltime`` key wins over it. Empty (the default)
        offers no extension to jobs whose profile sets none: an operator can raise a limit past
        every partition's maximum, so extending is never unbounded.""",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._extend_lock = asyncio.Lock()

    @validate("walltime_extension_step", "max_walltime")
    def _check_extension_walltime(self, proposal: Any) -> str:
        name = proposal["trait"].name
        try:
            check_walltime(name, proposal["value"])
            optional_walltime_seconds(name, proposal["value"])
        except ConfigError as e:
            raise TraitError(str(e)) from None
        return str(proposal["value"])

    # -- the offer -------------------------------------------------------------------
    def extension_cap(self) -> int | None:
        """The most walltime this server's job may reach, in seconds: its profile's
        ``max_walltime``, else :attr:`max_walltime`; None when neither is set."""
        choice = self._choice
        if choice is not None and choice.profile and self.profiles:
            for profile in self._profiles():
                if profile.name == choice.profile and profile.max_walltime is not None:
                    return profile.max_walltime
        return optional_walltime_seconds("max_walltime", self.max_walltime)

    def extend_offer(self, current: int | None = None) -> ExtendOffer:
        """Whether this server's job may be extended, given its time limit ``current`` in
        seconds (if known). No I/O."""
        return make_offer(
            supported=self.scheduler_class.extend_unavailable(),
            operator=self.walltime_operator_username,
            step=optional_walltime_seconds("walltime_extension_step", self.walltime_extension_step),
            cap=self.extension_cap(),
            current=current,
        )

    def operator_transport(self) -> Transport:
        """The operator's connection (:attr:`walltime_operator_username`), pooled with every
        other connection to the cluster as that account."""
        username = self._check_account("walltime_operator_username", self.walltime_operator_username)
        return self._make_transport(username, self.walltime_operator_keys or self.ssh_keys)

    # -- extending ---------------------------------------------------------------------
    async def extend_walltime(self) -> JobInfo:
        """Raise this server's job's time limit by one step (at most to the cap), as the
        operator; the job's information with the new limit.

        Raises :class:`~batchspawner_x.errors.ExtendRefused` with the reason in words:
        extending is not offered, the cap is reached, the job is not alive or its limit cannot
        be read now, the cluster cannot be reached, or the scheduler refused (its own words).
        One extension of a job at a time: a second request waits and starts from the new limit.
        """
        async with self._extend_lock:
            job_id = self.job_id
            if not job_id:
                raise ExtendRefused("This server has no batch job now.", reason="state")
            offer = self.extend_offer()
            if not offer.available:
                raise ExtendRefused(offer.reason or "", reason="unavailable")
            poller = await self.poller()
            entry = await poller.status(job_id, max_age=0)
            if entry is None or entry.stale or entry.status.time_limit_seconds is None:
                raise ExtendRefused(
                    f"Job {job_id}'s time limit cannot be read from the scheduler now: try again shortly.",
                    reason="state",
                )
            if not entry.status.state.alive:
                raise ExtendRefused(f"Job {job_id} has ended: there is nothing to extend.", reason="state")
            current = entry.status.time_limit_seconds
            new_limit = plan_extension(offer, current)
            argv = self.scheduler.extend_argv(job_id, new_limit)
            if argv is None:  # extend_unavailable said otherwise: a backend's own mistake
                raise ExtendRefused(self.scheduler_class.extend_unavailable() or "", reason="unavailable")
            try:
                result = await self.operator_transport().run(argv, timeout=self.status_timeout)
            except TransportError as e:
                raise ExtendRefused(
                    f"Cannot reach the cluster to extend job {job_id}: {e}", reason="connection"
                ) from None
            failed = self.scheduler.extend_failed(result)
            if failed is not None:
                self.log.warning("%s extending the time limit failed: %s", self._log_prefix(), failed)
                raise ExtendRefused(failed, reason="scheduler", scheduler_message=result.message())
            self.log.info(
                "%s time limit raised from %s to %s at the user's request (as %s)",
                self._log_prefix(),
                describe_duration(current),
                describe_duration(new_limit),
                self.walltime_operator_username,
            )
            await poller.status(job_id, max_age=0)  # the job API shows the new limit from now on
            info = self.job_info()
            if info is None:  # the job ended meanwhile
                raise ExtendRefused(f"Job {job_id} has ended.", reason="state")
            return info

    def job_info(self, now: dt.datetime | None = None) -> JobInfo | None:
        """This server's job (the spawner's own, :meth:`.BatchSpawnerBase.job_info`)."""
        raise NotImplementedError


__all__ = ["WalltimeExtension"]

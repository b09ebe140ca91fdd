"""Extending a running job's time limit: whether a user may, and by how much.

A site opts in by naming an operator identity (an account the scheduler lets raise a
running job's time limit: Slurm's ``AdminLevel=Operator``) and a cap on a job's total
walltime, site-wide or per profile. The user then asks for one step at a time (default
1 h); each step raises the job's limit by the step, up to the cap, never past it: the last
step may be shorter. Nothing here does I/O: the spawner reads the job's current limit from
the scheduler, asks :func:`plan_extension` for the new one and runs the scheduler's command
as the operator (see :mod:`batchspawner_x.spawner_extend`).
"""

from __future__ import annotations

from .errors import ExtendRefused
from .job_info import ExtendOffer, describe_duration


def cap_reached(cap: int) -> str:
    """The refusal once a job's limit has reached ``cap`` seconds, in words."""
    return f"Cap reached: this session may run at most {describe_duration(cap)} in all."


def make_offer(
    *,
    supported: str | None,
    operator: str,
    step: int | None,
    cap: int | None,
    current: int | None = None,
) -> ExtendOffer:
    """The offer for one job, from the site's settings and the job's known time limit.

    ``supported`` is None where the scheduler can raise a running job's limit, else the
    reason it cannot; ``operator`` the operator account ("" when none is set); ``step`` and
    ``cap`` in seconds (None when unset); ``current`` the job's time limit, if known.
    Without a cap nothing is offered: an operator may raise a limit past every partition's
    maximum, so an unbounded extension would let a session run for ever.

    >>> make_offer(supported=None, operator="slurmop", step=300, cap=900, current=600).available
    True
    >>> make_offer(supported=None, operator="slurmop", step=300, cap=900, current=900).reason
    'Cap reached: this session may run at most 15 min in all.'
    >>> make_offer(supported=None, operator="", step=300, cap=900).reason
    'Extending a session is not enabled on this hub (no walltime_operator_username is set).'
    """
    if supported is not None:
        return ExtendOffer(False, step, cap, supported)
    if not operator:
        return ExtendOffer(
            False,
            step,
            cap,
            "Extending a session is not enabled on this hub (no walltime_operator_username is set).",
        )
    if not step:
        return ExtendOffer(
            False, step, cap, "Extending a session is turned off (walltime_extension_step is 0)."
        )
    if cap is None:
        return ExtendOffer(
            False,
            step,
            cap,
            "Extending a session is not enabled for this profile: it sets no maximum walltime"
            " (max_walltime).",
        )
    if current is not None and current >= cap:
        return ExtendOffer(False, step, cap, cap_reached(cap))
    return ExtendOffer(True, step, cap, None)


def plan_extension(offer: ExtendOffer, current: int) -> int:
    """The job's new time limit, in seconds: ``current`` plus one step, at most the cap.

    Raises :class:`ExtendRefused` when the offer is not available or the cap is reached.

    >>> plan_extension(ExtendOffer(True, 300, 900), 600)
    900
    >>> plan_extension(ExtendOffer(True, 3600, 14400), 12600)
    14400
    >>> plan_extension(ExtendOffer(True, 300, 900), 900)
    Traceback (most recent call last):
    ...
    batchspawner_x.errors.ExtendRefused: Cap reached: this session may run at most 15 min in all.
    """
    if not offer.available or not offer.step_seconds or offer.max_seconds is None:
        raise ExtendRefused(offer.reason or "Extending a session is not offered here.", reason="unavailable")
    if current >= offer.max_seconds:
        raise ExtendRefused(cap_reached(offer.max_seconds), reason="cap")
    return min(current + offer.step_seconds, offer.max_seconds)


__all__ = [
    "ExtendOffer",
    "ExtendRefused",
    "cap_reached",
    "make_offer",
    "plan_extension",
]

"""Concrete spawners, one per scheduler, named as in the predecessor."""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Enum, List, TraitError, Unicode, validate

from .schedulers.condor import CONDOR_WALLTIME_DIRECTIVES, CondorScheduler
from .schedulers.lsf import LSF_MEMORY_REQUESTS, LsfScheduler
from .schedulers.moab import MoabScheduler
from .schedulers.pbs import RESOURCE_NAME, PBSProScheduler, TorqueScheduler
from .schedulers.sge import GridengineScheduler
from .schedulers.slurm import SlurmScheduler
from .spawner import BatchSpawnerBase
from .spawner_clusters import register_spawner_class


class SlurmSpawner(BatchSpawnerBase):
    """Notebook servers as Slurm jobs (``sbatch`` / ``squeue`` / ``scancel``).

    ``mem_limit`` becomes ``--mem`` in MiB (4G gives ``--mem=4096M``),
    ``cpu_limit`` becomes ``--cpus-per-task`` rounded up; ``partition``,
    ``account``, ``qos`` and ``gpus`` are written only when set.
    """

    scheduler_class = SlurmScheduler


class PBSSpawner(BatchSpawnerBase):
    """Notebook servers as PBS Pro / OpenPBS jobs (``qsub`` / ``qstat -F json`` / ``qdel``).

    ``cpu_limit``, ``mem_limit`` and ``gpus`` become one chunk,
    ``-l select=1:ncpus=N:mem=Mmb:ngpus=G`` (only the parts that are set);
    ``partition`` is the queue (``-q``), ``account`` is ``-A`` and ``walltime``
    is written as ``HH:MM:SS`` (``1-12:00:00`` gives ``36:00:00``).
    Needs PBS Pro or OpenPBS 19 or later (``qstat -F json``).
    """

    scheduler_class = PBSProScheduler

    gpu_resource = Unicode(
        "ngpus",
        config=True,
        help="""Name of the chunk resource that counts GPUs in ``-l select``.

        PBS Pro's convention is ``ngpus``; some sites define their own (``gpus``).
        Used only when :attr:`gpus` is above 0.""",
    )

    @validate("gpu_resource")
    def _check_gpu_resource(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if not RESOURCE_NAME.fullmatch(value):
            raise TraitError(f"gpu_resource: {value!r} is not a PBS resource name")
        return value


class _PBSMemoryChoice(BatchSpawnerBase):
    """Torque and Moab: ``mem_limit`` as the job's total memory or per process."""

    memory_directive = Enum(
        ["mem", "pmem"],
        default_value="mem",
        config=True,
        help="""Which resource carries ``mem_limit``.

        ``mem`` (the default): the job's total memory, ``mem=4096mb``. ``pmem``: memory per
        process, for sites that enforce only that; the limit is divided by the number of
        cores (4G on 2 cores gives ``pmem=2048mb``).""",
    )


class TorqueSpawner(_PBSMemoryChoice, BatchSpawnerBase):
    """Notebook servers as Torque jobs (``qsub`` / ``qstat -x`` / ``qdel``).

    ``cpu_limit`` and ``gpus`` become ``-l nodes=1:ppn=N:gpus=G``,
    ``mem_limit`` becomes ``-l mem=Mmb`` (or ``pmem``, see
    :attr:`memory_directive`); ``partition`` is the queue (``-q``), ``account``
    is ``-A`` and ``walltime`` is written as ``HH:MM:SS``.
    """

    scheduler_class = TorqueScheduler


class MoabSpawner(_PBSMemoryChoice, BatchSpawnerBase):
    """Notebook servers as Moab jobs (``msub`` / ``mdiag -j --xml`` / ``mjobctl -c``).

    One resource line, ``-l nodes=1:ppn=N:gpus=G,mem=Mmb,walltime=HH:MM:SS``
    (only the parts that are set; ``pmem`` instead of ``mem`` with
    :attr:`memory_directive`); ``partition`` is the class (``-q``) and
    ``account`` is ``-A``. The cluster account must be allowed to run
    ``mdiag -j`` on its own jobs.
    """

    scheduler_class = MoabScheduler


class GridengineSpawner(BatchSpawnerBase):
    """Notebook servers as Grid Engine jobs (``qsub`` / ``qstat`` / ``qdel``).

    For Son of Grid Engine, Univa and Altair Grid Engine. ``partition`` is the
    queue (``-q``), ``account`` the project (``-P``), ``walltime`` becomes
    ``-l h_rt``; ``cpu_limit`` above 1 becomes ``-pe <parallel_environment> N``,
    ``mem_limit`` one ``-l`` request per entry of :attr:`memory_resources`
    (divided by the slots when :attr:`memory_per_slot`), ``gpus`` a request
    of the :attr:`gpu_resource` complex. Grid Engine has no QOS: ``qos`` must
    stay empty.
    """

    scheduler_class = GridengineScheduler

    parallel_environment = Unicode(
        "smp",
        config=True,
        help="""Parallel environment that gives a job several cores on one host.

        A ``cpu_limit`` above 1 is requested as ``-pe <this> N``. The environment must
        exist (``qconf -spl``), be listed in the queue's ``pe_list`` and keep all slots
        on one host (``allocation_rule $pe_slots``). Names differ between sites:
        ``smp``, ``shm``, ``threads``, ``openmp``.
        """,
    )
    memory_resources = List(
        Unicode(),
        default_value=["h_vmem"],
        config=True,
        help="""Resources that carry the memory request, each as ``-l <name>=<MiB>M``.

        ``h_vmem`` (the default) is a hard limit of the job's virtual memory; sites that
        schedule on free memory add or use ``mem_free``, others a consumable such as
        ``h_mem`` or ``m_mem_free`` (Univa). An empty list requests no memory. Python
        and Jupyter reserve more virtual memory than they use: with ``h_vmem``, give
        ``mem_limit`` some headroom.
        """,
    )
    memory_per_slot = Bool(
        True,
        config=True,
        help="""Whether the memory resources count per slot (Grid Engine's rule for
        consumables and limits such as ``h_vmem``).

        Grid Engine multiplies a per-slot request by the job's slots: with
        ``cpu_limit = 4`` and ``mem_limit = "8G"`` the job asks ``-pe smp 4 -l h_vmem=2048M``,
        which allows 8 GiB in all. Set False for resources defined per job
        (``consumable JOB``) or checked against a host's free memory (``mem_free``);
        the whole ``mem_limit`` is then requested as is.
        """,
    )
    gpu_resource = Unicode(
        "gpu",
        config=True,
        help="""Consumable complex that counts GPUs; ``gpus = N`` requests ``-l <this>=N``.

        Define it per job (``consumable JOB`` in ``qconf -mc``): a per-slot consumable
        would be multiplied by the slots of a ``-pe`` job. Empty when the site has none
        (requesting GPUs is then an error).
        """,
    )


class LsfSpawner(BatchSpawnerBase):
    """Notebook servers as IBM Spectrum LSF jobs (``bsub`` / ``bjobs`` / ``bkill``).

    ``cpu_limit`` becomes ``-n N`` with all cores on one host (``-R "span[hosts=1]"``),
    ``mem_limit`` becomes ``-R "rusage[mem=M]"`` and ``-M M`` (see
    :attr:`memory_request`), counted in :attr:`lsf_unit_for_limits`; ``partition``
    is the queue (``-q``), ``account`` the project (``-P``), ``walltime`` becomes
    ``-W [hour:]minute`` (``1-12:00:00`` gives ``36:00``) and ``gpus``
    ``-gpu "num=N"``. LSF has no QOS: ``qos`` must stay empty.
    """

    scheduler_class = LsfScheduler

    memory_request = Enum(
        list(LSF_MEMORY_REQUESTS),
        default_value="both",
        config=True,
        help="""How ``mem_limit`` is asked of LSF.

        ``rusage``: a reservation the scheduler places the job by,
        ``-R "rusage[mem=M]"``. ``limit``: the job's memory limit, ``-M M``, which LSF
        enforces (kills the job above it) where LSB_MEMLIMIT_ENFORCE or LSB_JOB_MEMLIMIT
        is set. ``both`` (the default): the reservation and the limit, so that the server
        gets the memory it may use.""",
    )
    lsf_unit_for_limits = Enum(
        ["KB", "MB", "GB", "TB", "PB"],
        default_value="MB",
        config=True,
        help="""The unit the cluster counts memory in: LSF_UNIT_FOR_LIMITS in lsf.conf.

        LSF reads the plain numbers of ``-M`` and ``rusage[mem=]`` in this unit, so set
        the cluster's value (``lsadmin showconf lim | grep LSF_UNIT_FOR_LIMITS``). The
        default, MB, is the common site setting. Without the setting, LSF reads ``-M``
        in KB but ``rusage[mem=]`` in MB: then use ``memory_request = "rusage"`` (MB),
        or ``"limit"`` with KB. Values are rounded up.""",
    )


class CondorSpawner(BatchSpawnerBase):
    """Notebook servers as HTCondor jobs (``condor_submit`` / ``condor_q`` / ``condor_rm``).

    The job is a vanilla-universe submit description running ``/bin/bash`` with the
    template's shell lines; ``cpu_limit`` becomes ``request_cpus``, ``mem_limit``
    ``request_memory`` (MiB), ``gpus`` ``request_gpus``, ``account`` the
    ``accounting_group``, and ``walltime`` a ``periodic_remove`` expression and/or
    ``+MaxRuntime`` (see :attr:`walltime_directive`). ``extra_directives`` are
    submit commands, one per entry (``requirements = ...``). HTCondor has no queues
    and no QOS: ``partition`` and ``qos`` must stay empty.
    """

    scheduler_class = CondorScheduler

    walltime_directive = Enum(
        list(CONDOR_WALLTIME_DIRECTIVES),
        default_value="both",
        config=True,
        help="""How ``walltime`` reaches HTCondor, which has no time limit of its own.

        ``periodic_remove``: the job removes itself once it has run that long,
        ``periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > S)``.
        ``max_runtime``: the custom attribute ``+MaxRuntime = S`` for pools whose policy
        (SYSTEM_PERIODIC_REMOVE, START) reads it. ``both`` (the default) writes both.""",
    )


for _cls in (
    SlurmSpawner,
    PBSSpawner,
    TorqueSpawner,
    MoabSpawner,
    GridengineSpawner,
    LsfSpawner,
    CondorSpawner,
):
    register_spawner_class(_cls)

__all__ = [
    "CondorSpawner",
    "GridengineSpawner",
    "LsfSpawner",
    "MoabSpawner",
    "PBSSpawner",
    "SlurmSpawner",
    "TorqueSpawner",
]

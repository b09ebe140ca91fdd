"""The predecessor's configuration names, accepted with a warning.

Sites moving from `jupyterhub/batchspawner` keep their ``jupyterhub_config.py``:
``c.BatchSpawnerBase.req_partition = "gpu"`` or ``c.SlurmSpawner.req_memory =
"4G"`` still work. :class:`PredecessorConfig` (a base class of
:class:`~batchspawner_x.spawner.BatchSpawnerBase`) declares every old name as
a setting; setting one logs, once per process, which new setting to use and
sets that one. Names without a meaning here are accepted and ignored, with a
warning that says why. A setting given under both names keeps the new one.

``batch_script`` keeps working: the old string template is rendered with the
old variable names (``{partition}``, ``{{memory}}``, ``{% if qos %}`` ...),
from values checked exactly as for the packaged templates.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

import jinja2
from traitlets import TraitError, Unicode, observe
from traitlets.config import LoggingConfigurable

from .errors import ConfigError, SettingIgnored, TemplateError
from .node_side import insert_before_first_command
from .script import check_context, render
from .ssh_prefix import is_ssh, translate_ssh_prefix
from .units import check_walltime, memory_mib
from .validation import check_line, check_name, check_path

if TYPE_CHECKING:
    from .schedulers import Scheduler


class PredecessorSpawner(Protocol):
    """What the conversions read of a spawner.

    A structural type, so that this module (a base of
    :class:`~batchspawner_x.spawner.BatchSpawnerBase`) needs nothing from spawner.py,
    which imports it: every spawner class satisfies it.
    """

    scheduler_class: ClassVar[type[Scheduler]]
    scheduler_commands: dict[str, str]
    extra_directives: list[str]
    template: str
    batch_script: str
    req_host: str
    req_cluster: str
    req_reservation: str
    req_gres: str
    req_srun: str
    _predecessor_directives: list[str]


#: (spawner class name, old setting) pairs already warned about in this process.
_WARNED: set[tuple[str, str]] = set()

_DIRECTIVE_PREFIX = re.compile(r"^\s*#(?:SBATCH|PBS|BSUB|\$)\s+")

#: Old ``batch_*_cmd`` settings and the role of ``scheduler_commands`` they become.
_COMMAND_ROLES = {"batch_submit_cmd": "submit", "batch_query_cmd": "status", "batch_cancel_cmd": "cancel"}


def memory_spec(field: str, value: str) -> str:
    """The predecessor's ``req_memory`` as a ``mem_limit`` in MiB: ``4G``, ``4gb`` and
    ``4096`` all give ``4096M``; a bare number is MiB, as everywhere (and as Slurm
    reads ``--mem=4000``). ``0`` stays 0: no memory request."""
    return f"{memory_mib(field, value, allow_zero=True)}M"


def positive_number(field: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ConfigError(field, f"{value[:40]!r} is not a positive number")
    return number


def whole_number(field: str, value: str) -> int:
    if not value.strip().isdigit():
        raise ConfigError(field, f"{value[:40]!r} is not a whole number")
    return int(value)


def directives(field: str, value: str) -> list[str]:
    """``req_options`` (text after the directive prefix, one line or several) as a list.

    Each line stays one directive line, as the predecessor wrote it; a repeated
    ``#SBATCH`` / ``#PBS`` / ``#BSUB`` / ``#$`` prefix is dropped.
    """
    lines = [_DIRECTIVE_PREFIX.sub("", line).strip() for line in value.splitlines()]
    return [check_line(field, line) for line in lines if line]


def local_prefix(field: str, value: str) -> list[str]:
    """``exec_prefix`` as an argv. ``sudo -E`` loses its ``-E``: the environment
    travels in the job's private file, never through sudo."""
    try:
        argv = shlex.split(value)
    except ValueError as e:
        raise ConfigError(field, f"{value[:80]!r} cannot be split into words: {e}") from None
    for word in argv:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(word) if name is not None}
        except ValueError:
            names = {"?"}
        if names - {"username"}:
            raise ConfigError(
                field,
                f"{word!r}: only {{username}} is replaced in a local prefix "
                "(ssh command lines are read as the built-in SSH connection)",
            )
    if argv and argv[0].rsplit("/", 1)[-1] == "sudo":
        argv = [a for a in argv if a not in ("-E", "--preserve-env")]
    return argv


class _Rename:
    """An old setting whose value becomes one or more new settings."""

    def __init__(
        self, new: str, convert: Callable[[PredecessorSpawner, str, str], dict[str, Any]], note: str = ""
    ) -> None:
        self.new = new
        self.convert = convert
        self.note = note


def _to(trait: str, check: Callable[[str, str], Any] | None = None) -> Callable[..., dict[str, Any]]:
    def convert(spawner: PredecessorSpawner, field: str, value: str) -> dict[str, Any]:
        return {trait: check(field, value) if check else value}

    return convert


def _add_directives(
    make: Callable[[str, str], list[str]], *, own_variable: bool = False
) -> Callable[..., dict[str, Any]]:
    """Add to ``extra_directives``. ``own_variable``: the old templates wrote it from a variable
    of its own (``{{gres}}``), so it stays out of ``{{options}}``."""

    def convert(spawner: PredecessorSpawner, field: str, value: str) -> dict[str, Any]:
        added = make(field, value)
        if own_variable:
            spawner._predecessor_directives.extend(added)
        current = list(spawner.extra_directives)
        return {"extra_directives": current + [d for d in added if d not in current]}

    return convert


def _slurm_directive(option: str) -> Callable[[str, str], list[str]]:
    def make(field: str, value: str) -> list[str]:
        return [f"--{option}={check_name(field, value)}"]

    return make


def _exec_prefix(spawner: PredecessorSpawner, field: str, value: str) -> dict[str, Any]:
    if is_ssh(value):
        section = type(spawner).__name__
        ssh = translate_ssh_prefix(value, spawner.req_host, section)
        lines = "".join(f"\n    {line}" for line in ssh.config_lines(section))
        remarks = "".join(f"; {note}" for note in ssh.notes)
        return {**ssh.settings(), _NEW: "the built-in SSH connection", _NOTE: f"{remarks}; write:{lines}"}
    return {"connection": "local", "local_prefix": local_prefix(field, value)}


def _command(spawner: PredecessorSpawner, field: str, value: str) -> dict[str, Any]:
    role = _COMMAND_ROLES[field]
    try:
        words = shlex.split(value)
    except ValueError:
        words = []
    default = spawner.scheduler_class.default_commands.get(role, "")
    exe = words[0] if words else ""
    note = ""
    if len(words) == 1 and "{" not in exe:
        pass  # a plain executable (or a site wrapper): use it as is
    elif exe and "{" not in exe and exe.rsplit("/", 1)[-1] == default:
        note = f"; only {exe} is kept, {spawner.scheduler_class.display_name} arguments are built here"
    else:
        raise SettingIgnored(
            field,
            f"{field} = {value!r} is ignored: the arguments of {default or 'the ' + role + ' command'} "
            f"are built by the {spawner.scheduler_class.display_name} backend; set "
            f'scheduler_commands = {{"{role}": "/path/to/{default or role}"}} to use another executable',
        )
    return {"scheduler_commands": {**spawner.scheduler_commands, role: exe}, _NOTE: note}


#: A key of a conversion's result that is not a setting but a remark for the warning.
_NOTE = "__note__"
#: A key of a conversion's result that names the new setting, when not ``_Rename.new``.
_NEW = "__new__"


_RENAMED: dict[str, _Rename] = {
    "req_partition": _Rename("partition", _to("partition", check_name)),
    "req_queue": _Rename("partition", _to("partition", check_name), "the queue is the partition"),
    "req_memory": _Rename("Spawner.mem_limit", _to("mem_limit", memory_spec), "a bare number is MiB"),
    "req_nprocs": _Rename("Spawner.cpu_limit", _to("cpu_limit", positive_number)),
    "req_runtime": _Rename("walltime", _to("walltime", check_walltime)),
    "req_account": _Rename("account", _to("account", check_name)),
    "req_qos": _Rename("qos", _to("qos", check_name)),
    "req_options": _Rename("extra_directives", _add_directives(directives), "one list item per line"),
    "req_prologue": _Rename("prologue", _to("prologue")),
    "req_epilogue": _Rename("epilogue", _to("epilogue")),
    "req_ngpus": _Rename("gpus", _to("gpus", whole_number)),
    "req_homedir": _Rename("workdir", _to("workdir", check_path)),
    "req_workdir": _Rename("workdir", _to("workdir", check_path)),
    "req_gres": _Rename(
        'extra_directives (["--gres=..."])',
        _add_directives(_slurm_directive("gres"), own_variable=True),
        "Slurm only",
    ),
    "req_reservation": _Rename(
        'extra_directives (["--reservation=..."])',
        _add_directives(_slurm_directive("reservation"), own_variable=True),
        "Slurm only",
    ),
    "exec_prefix": _Rename(
        'local_prefix (with connection = "local")', _exec_prefix, "the hub runs the commands itself"
    ),
    "batch_submit_cmd": _Rename('scheduler_commands["submit"]', _command),
    "batch_query_cmd": _Rename('scheduler_commands["status"]', _command),
    "batch_cancel_cmd": _Rename('scheduler_commands["cancel"]', _command),
}

#: Settings of JupyterHub's Spawner that old names set (which a wrapspawner parent links).
_SPAWNER_LEVEL = ("mem_limit", "cpu_limit")

#: Old settings that are only for Slurm; elsewhere they are ignored.
_SLURM_ONLY = {"req_gres", "req_reservation"}

_ENV_REASON = (
    "the server's environment travels in a private file in the job directory, not through the "
    "scheduler; set c.Spawner.environment or c.Spawner.env_keep instead"
)
_STATE_REASON = "each scheduler backend parses the scheduler's own states and hosts"

_IGNORED: dict[str, str] = {
    "req_username": "the cluster account comes from ssh_username",
    "req_keepvars": _ENV_REASON,
    "req_keepvars_extra": _ENV_REASON,
    "req_host": (
        "write the server into partition as 'queue@server' (PBS, Torque); "
        "it is still {{host}} in a batch_script"
    ),
    "req_cluster": (
        "point ssh_host at that cluster's login node (or use scheduler_commands wrappers); "
        "it is still {{cluster}} in a batch_script"
    ),
    "req_srun": (
        "the job runs the node command directly; override the template's command block to wrap it "
        "in srun; it is still {{srun}} in a batch_script"
    ),
    "batchspawner_singleuser_cmd": (
        "the job script carries the node side, so nothing is needed on the nodes; node_command "
        'names an installed one (for example ["/opt/jupyter/bin/batchspawner-x-singleuser"])'
    ),
    "state_pending_re": _STATE_REASON,
    "state_running_re": _STATE_REASON,
    "state_unknown_re": _STATE_REASON,
    "state_exechost_re": _STATE_REASON,
    "state_exechost_exp": _STATE_REASON,
}


def _old(help: str) -> Unicode[str, str | bytes]:
    return Unicode("", config=True, help=help)


def _renamed(name: str) -> Unicode[str, str | bytes]:
    rename = _RENAMED[name]
    note = f" ({rename.note})" if rename.note else ""
    return _old(f"Deprecated name from batchspawner: use ``{rename.new}``{note}.")


def _ignored(name: str) -> Unicode[str, str | bytes]:
    return _old(f"Deprecated name from batchspawner, ignored: {_IGNORED[name]}.")


class PredecessorConfig(LoggingConfigurable):
    """Settings of jupyterhub/batchspawner, accepted under their old names.

    Each logs a deprecation warning naming the setting that replaces it. See
    the migration guide for a before-and-after table.
    """

    req_partition = _renamed("req_partition")
    req_queue = _renamed("req_queue")
    req_memory = _renamed("req_memory")
    req_nprocs = _renamed("req_nprocs")
    req_runtime = _renamed("req_runtime")
    req_account = _renamed("req_account")
    req_qos = _renamed("req_qos")
    req_options = _renamed("req_options")
    req_prologue = _renamed("req_prologue")
    req_epilogue = _renamed("req_epilogue")
    req_ngpus = _renamed("req_ngpus")
    req_homedir = _renamed("req_homedir")
    req_workdir = _renamed("req_workdir")
    req_gres = _renamed("req_gres")
    req_reservation = _renamed("req_reservation")
    exec_prefix = _renamed("exec_prefix")
    batch_submit_cmd = _renamed("batch_submit_cmd")
    batch_query_cmd = _renamed("batch_query_cmd")
    batch_cancel_cmd = _renamed("batch_cancel_cmd")

    req_username = _ignored("req_username")
    req_keepvars = _ignored("req_keepvars")
    req_keepvars_extra = _ignored("req_keepvars_extra")
    req_host = _ignored("req_host")
    req_cluster = _ignored("req_cluster")
    req_srun = _ignored("req_srun")
    batchspawner_singleuser_cmd = _ignored("batchspawner_singleuser_cmd")
    state_pending_re = _ignored("state_pending_re")
    state_running_re = _ignored("state_running_re")
    state_unknown_re = _ignored("state_unknown_re")
    state_exechost_re = _ignored("state_exechost_re")
    state_exechost_exp = _ignored("state_exechost_exp")

    batch_script = Unicode(
        "",
        config=True,
        help="""Deprecated: the predecessor's job script, as one string; empty to use
        :attr:`template`.

        Still rendered, with the predecessor's variable names: ``partition``, ``queue``,
        ``memory``, ``nprocs``, ``ngpus``, ``runtime``, ``account``, ``qos``, ``options``,
        ``prologue``, ``epilogue``, ``cmd``, ``username``, ``homedir``, ``keepvars`` and
        the others, plus those of the packaged templates (``output``, ``job_dir`` ...).
        As before, a text holding ``{{`` or ``{%`` is a Jinja template, any other is
        filled in with ``str.format``. Move to a site template that extends the packaged
        one (see the cookbook).""",
    )

    def __init__(self, **kwargs: Any) -> None:
        #: Directives added from req_gres / req_reservation (kept out of ``options``).
        self._predecessor_directives: list[str] = []
        #: False while the configuration loads: an ssh exec_prefix waits for req_host, its {host}.
        self._predecessor_loaded = False
        #: Spawner settings (mem_limit, cpu_limit) given by an old name, kept against a
        #: wrapspawner parent's link, see _predecessor_keep.
        self._predecessor_spawner_values: dict[str, Any] = {}
        #: Every setting an old name gave, put back when the configuration is loaded again.
        self._predecessor_values: dict[str, Any] = {}
        super().__init__(**kwargs)
        self._predecessor_loaded = True
        for name in ("exec_prefix", "req_host"):
            if getattr(self, name):
                self._predecessor_setting({"name": name, "new": getattr(self, name)})

    def _predecessor_warn(self, name: str, message: str, *args: Any) -> None:
        key = (type(self).__name__, name)
        if key not in _WARNED:
            _WARNED.add(key)
            self.log.warning(message, *args)

    def _configured_here(self, trait: str) -> bool:
        """Whether this spawner's configuration sets ``trait`` itself."""
        return trait in self._find_my_config(self.config)

    @observe(*_RENAMED, *_IGNORED)
    def _predecessor_setting(self, change: Mapping[str, Any]) -> None:
        spawner = cast(PredecessorSpawner, self)
        name, value, cls = change["name"], change["new"], type(self).__name__
        if name in ("exec_prefix", "req_host") and not self._predecessor_loaded:
            return  # read once the whole configuration is loaded, see __init__
        ssh_prefix = is_ssh(self.exec_prefix)
        if name == "req_host" and ssh_prefix:
            return  # it is the {host} of exec_prefix, whose warning names it
        if name in _IGNORED:
            self._predecessor_warn(
                name, "%s.%s (from batchspawner) is ignored: %s.", cls, name, _IGNORED[name]
            )
            return
        rename = _RENAMED[name]
        if name in _SLURM_ONLY and spawner.scheduler_class.name != "slurm":
            self._predecessor_warn(
                name,
                "%s.%s (from batchspawner) is ignored: it is a Slurm option; use extra_directives.",
                cls,
                name,
            )
            return
        if not value:
            return
        try:
            updates = rename.convert(spawner, name, value)
        except ConfigError as e:
            raise TraitError(f"{cls}.{e}") from None
        except SettingIgnored as e:
            self._predecessor_warn(name, "%s.%s", cls, str(e))
            return
        note = updates.pop(_NOTE, "")
        new_name = updates.pop(_NEW, rename.new)
        for trait in updates:
            if trait not in ("extra_directives", "scheduler_commands") and self._configured_here(trait):
                self._predecessor_warn(
                    name,
                    "%s.%s (from batchspawner) is ignored: %s is also set, and the new name wins.",
                    cls,
                    name,
                    trait,
                )
                return
        self._predecessor_warn(
            name, "%s.%s is deprecated (a batchspawner setting): use %s%s.", cls, name, new_name, note
        )
        for trait, new in updates.items():
            if trait in _SPAWNER_LEVEL:
                self._predecessor_spawner_values[trait] = new
            self._predecessor_values[trait] = new
            setattr(self, trait, new)

    def _load_config(self, cfg: Any, section_names: Any = None, traits: Any = None) -> None:
        """Load ``cfg``, then put back what old names gave this spawner.

        A wrapspawner parent links its ``config`` to its child's, which loads the site's
        configuration again once the child is built: a site-wide ``walltime`` then replaced
        the ``walltime`` that the profile's own ``req_runtime`` gave. A profile's settings
        win over the site's, in old names as in new ones (traitlets keeps those given by name).
        """
        super()._load_config(cfg, section_names=section_names, traits=traits)
        for trait, value in getattr(self, "_predecessor_values", {}).items():
            setattr(self, trait, value)

    @observe(*_SPAWNER_LEVEL)
    def _predecessor_keep(self, change: Mapping[str, Any]) -> None:
        """Keep ``mem_limit``/``cpu_limit`` from ``req_memory``/``req_nprocs`` when a wrapspawner
        parent's link empties them. wrapspawner copies every setting it shares with its child
        onto the child, so its unset ``mem_limit`` replaced the one ``req_memory`` gave (the
        predecessor's ``req_memory`` was a setting of its own, which no link touched)."""
        kept = self._predecessor_spawner_values.get(change["name"])
        if self._predecessor_loaded and change["new"] is None and kept is not None:
            setattr(self, change["name"], kept)

    @observe("batch_script")
    def _predecessor_batch_script(self, change: Mapping[str, Any]) -> None:
        if change["new"]:
            self._predecessor_warn(
                "batch_script",
                "%s.batch_script is deprecated (a batchspawner setting): it is still used, but move "
                "it to a template that extends %s (see the migration guide).",
                type(self).__name__,
                "batchspawner_x/" + cast(PredecessorSpawner, self).template,
            )


# ---------------------------------------------------------------------------
# batch_script

#: How each scheduler wrote ``{memory}``: the predecessor passed the text through.
_MEMORY_FORMAT = {
    "pbs": "{}mb",
    "torque": "{}mb",
    "moab": "{}mb",
    "lsf": "{}MB",
    "condor": "{}",
}


def legacy_context(spawner: PredecessorSpawner, context: Mapping[str, Any], home: str) -> dict[str, Any]:
    """The predecessor's template variables, from the checked ``job_context``.

    The variables of the packaged templates stay available beside them.
    """
    sched = spawner.scheduler_class.name
    mb = context["memory_mb"]
    memory = _MEMORY_FORMAT.get(sched, "{}M").format(mb) if mb else ""
    extra = [d for d in context["extra_directives"] if d not in spawner._predecessor_directives]
    old: dict[str, Any] = {
        "partition": context["partition"],
        "queue": context["partition"],
        "host": check_name("req_host", spawner.req_host),
        "cluster": check_name("req_cluster", spawner.req_cluster),
        "memory": memory,
        "nprocs": str(context["cpus"] or ""),
        "ngpus": str(context["gpus"] or ""),
        "runtime": context["walltime"],
        "account": context["account"],
        "qos": context["qos"],
        "options": " ".join(extra),
        "reservation": check_name("req_reservation", spawner.req_reservation) or context["reservation"],
        "gres": check_name("req_gres", spawner.req_gres),
        "srun": check_line("req_srun", spawner.req_srun),
        "prologue": context["prologue"],
        "epilogue": context["epilogue"],
        "cmd": shlex.join(context["command"]),
        "username": context["username"],
        "homedir": check_path("home", home),
        "keepvars": "ALL" if sched == "slurm" else "PATH",
        "keepvars_extra": "",
    }
    return {**context, **old}


def _environment() -> jinja2.Environment:
    """Jinja as the predecessor used it (no block trimming), but strict about names."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["q"] = lambda v: shlex.quote(str(v))
    env.filters["shjoin"] = lambda vs: shlex.join(str(v) for v in vs)
    return env


class _NamesOnly(string.Formatter):
    """``str.format`` that fills in plain names only (no ``{x.attr}`` or ``{x[0]}``)."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise TemplateError(f"batch_script: {{{field_name}}} is not a plain variable name")
        try:
            return kwargs[field_name], field_name
        except KeyError:
            raise TemplateError(
                f"batch_script uses {{{field_name}}}, which is not a variable "
                f"(known: {', '.join(sorted(kwargs))})"
            ) from None


def render_batch_script(spawner: PredecessorSpawner, context: Mapping[str, Any], home: str) -> str:
    """Render the predecessor's ``batch_script`` string with its variable names."""
    text = spawner.batch_script
    values = legacy_context(spawner, context, home)
    check_context(values)
    if "{{" in text or "{%" in text:
        try:
            script = _environment().from_string(text).render(**values)
        except jinja2.UndefinedError as e:
            raise TemplateError(f"batch_script uses an undefined variable: {e.message}") from None
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"batch_script line {e.lineno}: {e.message}") from None
    else:
        try:
            script = _NamesOnly().vformat(text, (), values)
        except (ValueError, IndexError) as e:
            raise TemplateError(f"batch_script: {e} (write a literal brace as {{{{ or }}}})") from None
    if spawner.scheduler_class.script_is_shell and not script.startswith("#!"):
        raise TemplateError("batch_script must render a script starting with '#!' (no blank line before it)")
    if context["node_files"]:
        # the node side travels in the script: written before the script's first command
        if not spawner.scheduler_class.script_is_shell:
            raise TemplateError(
                "batch_script: a submit description that is not a shell script cannot carry the "
                "node side; move it to a template (see the migration guide), or set node_command "
                "to an installed batchspawner-x-singleuser"
            )
        block = render("batchspawner_x/node_side.sh.j2", context, require_shebang=False)
        script = insert_before_first_command(script, block)
    return script


def predecessor_names() -> dict[str, str]:
    """Every old setting and what became of it, for the docs and the tests."""
    names = {name: rename.new for name, rename in _RENAMED.items()}
    names.update({name: "ignored: " + reason for name, reason in _IGNORED.items()})
    names["batch_script"] = "template (still rendered)"
    return names


__all__ = ["PredecessorConfig", "legacy_context", "memory_spec", "predecessor_names", "render_batch_script"]

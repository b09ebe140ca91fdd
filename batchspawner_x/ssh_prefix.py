"""The predecessor's ``exec_prefix = "ssh ..."``, read as the built-in SSH settings.

Sites whose hub runs outside the cluster ran every scheduler command through an
``ssh`` command line, for example ``ssh -i /keys/{username}.key -l {username} {host}``
with ``req_host`` naming the login node. :func:`translate_ssh_prefix` reads such a
line (split with :mod:`shlex`, never run) and returns the native settings
(``ssh_host``, ``ssh_port``, ``ssh_username``, ``ssh_keys``, ``ssh_known_hosts``),
or raises :class:`~batchspawner_x.errors.ConfigError` naming ``exec_prefix`` with the
native lines as advice when the line cannot be translated safely.

Host keys are always checked: ``StrictHostKeyChecking=no`` (or ``accept-new``) and
``UserKnownHostsFile=/dev/null`` are not carried over; the result keeps checking on and
says, in its ``notes``, how to add the login node's key.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import ConfigError

FIELD = "exec_prefix"

#: Characters a shell would give a meaning; the predecessor ran the prefix through a shell.
_SHELL_CHARS = frozenset(";|&$`<>()*?[]!~\\\"'\n")

#: Flags without an argument that change nothing the built-in connection does.
_HARMLESS_FLAGS = frozenset("qTtx")

#: OpenSSH's flags that take an argument (``ssh(1)``): a refused one still consumes it, so
#: that the advice does not take ``-J jump``'s ``jump`` for the login node.
_VALUE_FLAGS = frozenset("BbcDEeFIiJLlmOopQRSWw")

#: ``-o`` options accepted and dropped, with why they change nothing here.
_DROPPED_OPTIONS = {
    "batchmode": "the hub never prompts",
    "identitiesonly": "only ssh_keys are offered",
    "loglevel": "the hub logs on its own",
    "passwordauthentication": "the hub logs in with keys only",
}

_PLACEHOLDERS = ("{username}", "{host}")

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


@dataclass(frozen=True)
class SSHPrefix:
    """The built-in SSH settings an ``ssh`` ``exec_prefix`` stands for.

    ``known_hosts`` and the timeouts are ``None`` when the line did not set them (the
    defaults stay). ``notes`` are remarks for the one deprecation warning.
    """

    host: str = ""
    port: int = 22
    username: str = ""
    keys: tuple[str, ...] = ()
    known_hosts: str | None = None
    connect_timeout: float | None = None
    keepalive_interval: float | None = None
    notes: tuple[str, ...] = field(default=())

    def settings(self) -> dict[str, object]:
        """The trait values, by trait name."""
        values: dict[str, object] = {
            "connection": "ssh",
            "ssh_host": self.host,
            "ssh_port": self.port,
            "ssh_username": self.username,
        }
        optional = {
            "ssh_keys": list(self.keys) or None,
            "ssh_known_hosts": self.known_hosts,
            "ssh_connect_timeout": self.connect_timeout,
            "ssh_keepalive_interval": self.keepalive_interval,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        return values

    def config_lines(self, section: str) -> list[str]:
        """The settings as ``jupyterhub_config.py`` lines for ``c.<section>``."""
        return [f"c.{section}.{name} = {value!r}" for name, value in self.settings().items()]


def is_ssh(value: str) -> bool:
    """Whether an ``exec_prefix`` runs ``ssh`` (its first word, by base name)."""
    words = value.split()
    return bool(words) and words[0].rsplit("/", 1)[-1] == "ssh"


def translate_ssh_prefix(value: str, req_host: str, section: str = "Spawner") -> SSHPrefix:
    """``exec_prefix`` ``value`` (an ``ssh`` command line) as built-in SSH settings.

    ``{host}`` is ``req_host``, as in the predecessor; ``{username}`` stays a placeholder
    (the native settings replace it the same way). ``section`` names the class in the
    advice. Raises :class:`ConfigError` for ``exec_prefix`` when the line holds anything
    that cannot be carried over exactly: an unknown option, a ``ProxyCommand``, a remote
    command after the host, shell syntax or another placeholder.
    """
    parser = _Parser(req_host)
    try:
        parser.parse(value)
    except ConfigError as e:
        guess = parser.result(host=req_host or "login.example.org")
        advice = "; ".join(guess.config_lines(section))
        raise ConfigError(
            FIELD,
            f"{value!r} cannot be translated to the built-in SSH connection: {e.message}. "
            f"Remove exec_prefix and set the native settings instead, for example: {advice}",
        ) from None
    return parser.result()


class _Parser:
    """Reads one ``ssh`` argv; collects settings as it goes (for the advice when it stops)."""

    def __init__(self, req_host: str) -> None:
        self.req_host = req_host
        self.values: dict[str, object] = {}
        self.keys: list[str] = []
        self.notes: list[str] = []
        self.known_hosts_off = False

    def result(self, host: str = "") -> SSHPrefix:
        """What was read so far; ``host`` if no host was read (for advice)."""
        self.values.setdefault("host", host)
        if host:
            self.values.setdefault("username", "{username}")
        notes = list(self.notes)
        if self.known_hosts_off:
            host, port = str(self.values.get("host") or "LOGIN_NODE"), int(str(self.values.get("port", 22)))
            known = str(self.values.get("known_hosts", "/etc/ssh/ssh_known_hosts"))
            scan = (
                f"ssh-keyscan -p {port} {host} >> {known}" if port != 22 else f"ssh-keyscan {host} >> {known}"
            )
            notes.append(
                "host keys are still checked (StrictHostKeyChecking=no, accept-new and "
                f"UserKnownHostsFile=/dev/null are not carried over); add the login node's key: {scan}"
            )
        return SSHPrefix(keys=tuple(self.keys), notes=tuple(notes), **self.values)  # type: ignore[arg-type]

    def parse(self, value: str) -> None:
        try:
            argv = shlex.split(value)
        except ValueError as e:
            raise _refused(f"it cannot be split into words ({e})") from None
        for word in argv:
            bad = sorted(set(word) & _SHELL_CHARS)
            if bad:
                raise _refused(f"{word!r} holds shell syntax ({''.join(bad)!r})")
            rest = word
            for placeholder in _PLACEHOLDERS:
                rest = rest.replace(placeholder, "")
            if "{" in rest or "}" in rest:
                raise _refused(f"{word!r} holds a placeholder other than {{username}} and {{host}}")
        words = iter(argv[1:])
        destination = None
        first_problem: ConfigError | None = None  # read on, so that the advice holds the rest
        for word in words:
            if destination is not None:
                first_problem = first_problem or _refused(f"a remote command ({word!r} ...) follows the host")
                break
            if word.startswith("-") and len(word) > 1:
                try:
                    self._flag(word, words)
                except ConfigError as e:
                    first_problem = first_problem or e
            else:
                destination = word
        if destination is not None:
            self._destination(destination)
        if first_problem is not None:
            raise first_problem
        if destination is None:
            raise _refused("it names no host")
        if "username" not in self.values:
            raise _refused(
                "it names no user (-l, -o User= or user@host), so ssh logged in as the hub's own "
                "account; name that account (or {username}) in ssh_username"
            )

    def _flag(self, word: str, words: Iterator[str]) -> None:
        letter, attached = word[1], word[2:]
        if letter in _HARMLESS_FLAGS and not attached:
            return
        if letter not in "ilpo" or word.startswith("--"):
            if letter in _VALUE_FLAGS and not attached and not word.startswith("--"):
                next(words, None)
            raise _refused(f"the ssh option {word} has no built-in equivalent")
        argument = attached or next(words, None)
        if argument is None:
            raise _refused(f"the ssh option {word} has no value")
        if letter == "o":
            key, sep, val = argument.partition("=")
            if not sep:
                key, _, val = argument.partition(" ")
            self._option(key.strip().lower(), val.strip(), argument)
        else:
            self._option({"i": "identityfile", "l": "user", "p": "port"}[letter], argument, word)

    def _option(self, key: str, value: str, shown: str) -> None:
        if not value:
            raise _refused(f"the ssh option {shown!r} has no value")
        if key in _DROPPED_OPTIONS:
            return
        if key == "identityfile":
            self._no_host(value, shown)
            self.keys.append(value)
        elif key == "user":
            self._no_host(value, shown)
            self.values.setdefault("username", value)  # the first one wins, as in ssh
        elif key == "port":
            self.values.setdefault("port", _number(shown, value, int, 1, 65535))
        elif key == "stricthostkeychecking":
            if value.lower() in ("no", "off", "accept-new"):
                self.known_hosts_off = True
            elif value.lower() not in ("yes", "ask"):
                raise _refused(f"StrictHostKeyChecking={value} is not an OpenSSH value")
        elif key == "userknownhostsfile":
            if value == "/dev/null":
                self.known_hosts_off = True
            elif len(value.split()) > 1:
                raise _refused("UserKnownHostsFile names several files; ssh_known_hosts takes one")
            else:
                self._no_host(value, shown)
                self.values.setdefault("known_hosts", value)
        elif key == "connecttimeout":
            self.values["connect_timeout"] = _number(shown, value, float, 1, None)
        elif key == "serveraliveinterval":
            self.values["keepalive_interval"] = _number(shown, value, float, 0, None)
        else:
            raise _refused(f"the ssh option {shown!r} has no built-in equivalent")

    def _no_host(self, value: str, shown: str) -> None:
        if "{host}" in value:
            raise _refused(f"{shown!r}: {{host}} is only understood as the login node")

    def _destination(self, word: str) -> None:
        user, at, host = word.rpartition("@")
        if at:
            self._no_host(user, word)
            self.values.setdefault("username", user)
        if host == "{host}":
            if not self.req_host:
                raise _refused("it connects to {host}, but req_host is not set")
            host = self.req_host
        elif "{" in host:
            raise _refused(f"the host {word!r} holds a placeholder; only a plain {{host}} is understood")
        if not _HOST.fullmatch(host):
            raise _refused(f"the host {host!r} is not a plain host name")
        self.values["host"] = host


def _refused(reason: str) -> ConfigError:
    """Why the line cannot be translated (the message is completed by translate_ssh_prefix)."""
    return ConfigError(FIELD, reason)


def _number(shown: str, value: str, kind: type[float] | type[int], low: float, high: float | None) -> float:
    """``value`` as a number within ``[low, high]``."""
    try:
        number = kind(value)
    except ValueError:
        raise _refused(f"{shown!r}: {value!r} is not a number") from None
    if number < low or (high is not None and number > high):
        raise _refused(f"{shown!r}: {value!r} is out of range")
    return number


__all__ = ["SSHPrefix", "is_ssh", "translate_ssh_prefix"]

"""Stand-ins shared by the unit tests: one fake login node and one spawner factory.

:class:`FakeTransport` is a login node that answers each command as the test
scripts it: with a function of the argv (recorded scheduler output, usually),
with a list of results given in order, or with a table by command name. It
records every command, and keeps the files the spawner writes in a dict.

:func:`new_spawner` builds a spawner from its traits, as a site's
``jupyterhub_config.py`` would; :func:`make_spawner` also connects it to a
:class:`FakeTransport`, the one place the tests reach inside a spawner.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from batchspawner_x import SlurmSpawner
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.spawner import BatchSpawnerBase
from batchspawner_x.transport import Transport

#: A scripted login node: the result of one command, from its argv.
Answer = Callable[[list[str]], CommandResult | Awaitable[CommandResult]]

#: What a FakeTransport may be told to answer: an Answer; results (or exceptions to
#: raise) in order, one per command; or a result per command name, anything else
#: succeeding with no output.
Script = Answer | Sequence[CommandResult | Exception] | Mapping[str, CommandResult]

S = TypeVar("S", bound=BatchSpawnerBase)


def ok(argv: list[str]) -> CommandResult:
    """Every command succeeds with no output."""
    return CommandResult(0)


def by_command(results: Mapping[str, CommandResult], default: CommandResult | None = None) -> Answer:
    """Answer with the result given for the command's name (``argv[0]``).

    A command not in ``results`` gets ``default``, or fails the test if there is none.
    """

    def answer(argv: list[str]) -> CommandResult:
        if argv[0] in results:
            return results[argv[0]]
        if default is None:
            raise AssertionError(f"unexpected command {argv}")
        return default

    return answer


def in_order(results: Sequence[CommandResult | Exception]) -> Answer:
    """Answer the commands with ``results`` in turn, raising those that are exceptions.

    A command after the last result fails the test.
    """
    pending = list(results)

    def answer(argv: list[str]) -> CommandResult:
        if not pending:
            raise AssertionError(f"unexpected command {argv}")
        result = pending.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    return answer


class FakeTransport(Transport):
    """A login node that answers each command as scripted and records it.

    ``key`` names the account it runs as (pollers and pools are shared by key); by
    default each transport is an account of its own. ``delay``: seconds each
    command takes (None: it answers without yielding to the event loop).
    """

    def __init__(
        self,
        answer: Script = ok,
        *,
        home: str = "/home/alice",
        key: tuple[str, ...] | None = None,
        delay: float | None = None,
    ) -> None:
        if isinstance(answer, Mapping):
            answer = by_command(answer, default=CommandResult(0))
        elif not callable(answer):
            answer = in_order(answer)
        self.answer: Answer = answer
        self.key = key or ("fake", uuid.uuid4().hex)
        self.home_dir = home
        self.delay = delay
        self.commands: list[list[str]] = []
        self.times: list[float] = []
        self.files: dict[str, bytes] = {}

    async def run(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float, idempotent: bool = True
    ) -> CommandResult:
        self.commands.append(list(argv))
        self.times.append(time.monotonic())
        if self.delay is not None:
            await asyncio.sleep(self.delay)
        result = self.answer(list(argv))
        if inspect.isawaitable(result):
            result = await result
        return result

    async def home(self) -> str:
        return self.home_dir

    async def write_file(self, path: str, data: bytes) -> None:
        self.files[path] = data

    async def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        data = self.files.get(path)
        return None if data is None else data[-max_bytes:]

    async def remove(self, paths: Sequence[str]) -> None:
        for path in paths:
            self.files.pop(path, None)

    def commands_of(self, command: str) -> list[list[str]]:
        """The commands run so far whose name is ``command``."""
        return [argv for argv in self.commands if argv[0] == command]


def hub_user(name: str, groups: Sequence[str] = ()) -> SimpleNamespace:
    """The parts of JupyterHub's user that a spawner reads; ``groups``: the names of its groups."""
    return SimpleNamespace(
        name=name,
        url=f"/user/{name}/",
        server=None,
        base_url="/",
        escaped_name=name,
        groups=[SimpleNamespace(name=group) for group in groups],
    )


def hub_traits(name: str) -> dict[str, Any]:
    """The traits JupyterHub sets on a spawner it starts: the hub, the user's token and client."""
    hub = SimpleNamespace(public_host="", api_url="http://127.0.0.1:8081/hub/api", base_url="/hub/")
    return {"hub": hub, "api_token": f"token-{name}", "oauth_client_id": f"c-{name}"}


def new_spawner(
    cls: type[S] = SlurmSpawner,  # type: ignore[assignment]
    name: str = "alice",
    server: str = "",
    *,
    groups: Sequence[str] = (),
    **traits: Any,
) -> S:
    """A spawner of ``cls`` for user ``name``, configured with ``traits`` as a site would,
    and given the hub, token and client JupyterHub gives the spawners it starts.

    ``server``: a named server's name, which comes from its database row; ``groups``:
    the user's JupyterHub groups.
    """
    spawner = cls(user=hub_user(name, groups), **{**hub_traits(name), **traits})
    if server:
        spawner.orm_spawner = SimpleNamespace(name=server, server=None)
    return spawner


def make_spawner(
    answer: Script = ok,
    *,
    cls: type[S] = SlurmSpawner,  # type: ignore[assignment]
    name: str = "alice",
    server: str = "",
    transport: FakeTransport | None = None,
    **traits: Any,
) -> tuple[S, FakeTransport]:
    """:func:`new_spawner`, whose commands go to ``transport``, by default a
    :class:`FakeTransport` answering ``answer`` from ``/home/<name>``."""
    spawner = new_spawner(cls, name, server, **traits)
    if transport is None:
        transport = FakeTransport(answer, home=f"/home/{name}")
    spawner._transport = transport
    return spawner, transport

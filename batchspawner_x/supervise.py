"""The node side stays beside the server: it passes warnings on and tells the hub of the end.

:func:`supervise` runs the server as its child instead of becoming it, and

- names the events file (:data:`~batchspawner_x.job_events.EVENTS_VAR`, in the job
  directory, 0600) in the server's environment, for the JupyterLab extension;
- on SIGUSR1 (the scheduler's early signal; Slurm's ``--signal=B:USR1@N`` reaches only
  the batch shell, which is this process) appends a warning line to the events file
  (:data:`~batchspawner_x.job_events.EVENTS_VAR`) and posts the warning to the hub; the
  server never sees the signal, so it cannot die of it;
- on SIGTERM, SIGINT or SIGHUP (the scheduler ends the job) passes the signal to the
  server and posts ``term`` to the hub at once, then waits for the server;
- when the server exits by itself, posts ``exit`` with its exit code (or ``signal`` if a
  signal nobody sent through the job killed it) and exits with the same status.

Each post is sent once, with the server's own API token in a header (never on a command
line or in a log), with a short timeout; a hub that cannot be reached changes nothing
(the hub's polling notices the end). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from .handshake import API_TOKEN_VAR, API_URL_VAR, job_id_from_env, report_headers
from .job_events import (
    EVENTS_FILE,
    EVENTS_VAR,
    POST_TIMEOUT,
    SIGNAL_SECONDS_VAR,
    end_body,
    event_url,
    warning_body,
    warning_line,
)

#: Signals by which the scheduler ends a job; each is passed on to the server.
END_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _log(message: str) -> None:
    print(f"batchspawner-x-singleuser: {message}", file=sys.stderr, flush=True)


def post_event(env: Mapping[str, str], body: bytes, context: ssl.SSLContext | None = None) -> bool:
    """Post one event to the hub; True if it answered 2xx. Never raises, never retries."""
    api_url, token = env.get(API_URL_VAR, ""), env.get(API_TOKEN_VAR, "")
    if not api_url or not token:
        return False
    request = urllib.request.Request(
        event_url(api_url), data=body, method="POST", headers=report_headers(token)
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT, context=context):
            return True
    except (urllib.error.URLError, OSError, ValueError) as e:
        _log(f"could not tell the hub of the job's event: {getattr(e, 'reason', e)}")
        return False


def append_event(path: str, line: str) -> None:
    """Append ``line`` to the events file at ``path``, created 0600 if missing."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class Supervisor:
    """The server as a child process, and what the job tells about it (see the module)."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        *,
        post: Callable[[bytes], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.post = post
        self.clock = clock
        self.job_id = job_id_from_env(env)
        self.events_file = env.get(EVENTS_VAR, "")
        self.signal_seconds = _int(env.get(SIGNAL_SECONDS_VAR, ""))
        self.child: subprocess.Popen[bytes] | None = None
        self.terminated_by: int | None = None
        self.posted_end = False
        self._posts: list[threading.Thread] = []

    # -- signals (run in the main thread, between the waits) ---------------------------
    def on_warning(self, signum: int, frame: FrameType | None) -> None:
        seconds = self.signal_seconds if self.signal_seconds is not None else 0
        _log(f"the scheduler warns: the job ends in about {seconds} s")
        if self.events_file:
            try:
                append_event(self.events_file, warning_line(seconds, self.clock()))
            except OSError as e:
                _log(f"cannot write {self.events_file}: {e}")
        if self.job_id:
            self._post_later(warning_body(self.job_id, seconds))

    def on_end_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(OSError):
                self.child.send_signal(signum)
        if self.terminated_by is None:
            self.terminated_by = signum
            _log(f"the job is ending ({signal.Signals(signum).name}); telling the hub")
            self._post_end("term", None, wait=False)

    # -- the end ----------------------------------------------------------------------
    def _post_later(self, body: bytes) -> None:
        thread = threading.Thread(target=self.post, args=(body,), daemon=True)
        thread.start()
        self._posts.append(thread)

    def _post_end(self, event: str, exit_code: int | None, *, wait: bool) -> None:
        if self.posted_end or not self.job_id:
            return
        self.posted_end = True
        body = end_body(self.job_id, event, exit_code)
        if wait:
            self.post(body)
        else:
            self._post_later(body)

    def run(self) -> int:
        """Start the server, wait for it, tell the hub how it ended; its exit status."""
        signal.signal(signal.SIGUSR1, self.on_warning)
        for signum in END_SIGNALS:
            signal.signal(signum, self.on_end_signal)
        try:
            self.child = subprocess.Popen(self.command, env=self.env)
        except OSError as e:
            _log(f"cannot run {self.command[0]}: {e}")
            return 127
        returncode = self.child.wait()  # (a signal's handler runs, then the wait goes on)
        if returncode >= 0:
            self._post_end("exit", returncode, wait=True)
            status = returncode
        else:
            self._post_end("signal", None, wait=True)
            status = 128 - returncode
        for thread in self._posts:
            thread.join(POST_TIMEOUT)
        return status


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def events_env(env: Mapping[str, str], job_dir: str) -> dict[str, str]:
    """``env`` with :data:`~batchspawner_x.job_events.EVENTS_VAR` naming the events file in
    ``job_dir`` (unless a site's job script named one), the file made (0600, empty)."""
    env = dict(env)
    path = env.setdefault(EVENTS_VAR, os.path.join(os.path.abspath(job_dir), EVENTS_FILE))
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except OSError as e:
        _log(f"cannot create the events file {path}: {e}")
    return env


def supervise(
    command: Sequence[str], env: Mapping[str, str], job_dir: str, context: ssl.SSLContext | None = None
) -> int:
    """Run the server ``command`` with ``env`` under a :class:`Supervisor`, its events file
    in ``job_dir``; its exit status."""
    env = events_env(env, job_dir)
    return Supervisor(command, env, post=lambda body: post_event(env, body, context)).run()


__all__ = ["END_SIGNALS", "Supervisor", "append_event", "events_env", "post_event", "supervise"]

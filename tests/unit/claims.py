"""Submission claims on a fake login node, for unit tests of what the hub decides.

The claim scripts themselves run for real in test_claim.py; here only their answers
are played, so that a test can say where the submit command is when the answer is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchspawner_x import claim
from batchspawner_x.claim import TAKEN, Holder, output_paths
from batchspawner_x.schedulers.base import CommandResult

SUBMIT = claim.SUBMIT_NAME
INSPECT = claim.INSPECT_NAME


def unwrap(argv: list[str]) -> list[str]:
    """The scheduler's own submit argv inside a claim argv; any other argv as it is."""
    if argv[:2] == ["/bin/sh", "-c"] and len(argv) > 6 and argv[3] == SUBMIT:
        return argv[6:]
    return argv


@dataclass
class Claim:
    holder: Holder = Holder.RUNNING
    returncode: int | None = None
    out: str = ""
    err: str = ""
    #: While RUNNING: readings left before the command finishes with ``then`` (None: never).
    readings_left: int | None = None
    then: tuple[int, str, str] | None = None
    #: Called when the command finishes (to make its job at that moment).
    on_finish: list[object] = field(default_factory=list)


class FakeClaims:
    """The claim directories of one login node, by path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.claims: dict[str, Claim] = {}
        self.files = files  # where the answers are read from (a FakeTransport's)
        self.kills = 0

    def take(self, path: str) -> CommandResult | None:
        """The claim script's ``mkdir``: None if taken now, else its "taken" answer."""
        if path in self.claims:
            return CommandResult(TAKEN, "", f"batchspawner-x claim: taken: {path}\n")
        self.claims[path] = Claim()
        return None

    def finish(self, path: str, returncode: int, out: str = "", err: str = "") -> None:
        claim = self.claims[path]
        claim.holder, claim.returncode, claim.out, claim.err = Holder.DONE, returncode, out, err
        stdout, stderr = output_paths(path)
        self.files[stdout], self.files[stderr] = out.encode(), err.encode()

    def inspect(self, argv: list[str]) -> CommandResult:
        path, action = argv[4], argv[5]
        claim = self.claims.get(path)
        if claim is not None and claim.holder is Holder.RUNNING and claim.readings_left is not None:
            claim.readings_left -= 1
            if claim.readings_left <= 0 and claim.then is not None:
                for callback in claim.on_finish:
                    callback()  # type: ignore[operator]
                self.finish(path, *claim.then)
        if claim is not None and action == "kill" and claim.holder is Holder.RUNNING:
            self.kills += 1
            claim.holder = Holder.DEAD
        if claim is not None and action == "clear" and claim.holder in (Holder.DEAD, Holder.DONE):
            del self.claims[path]
            claim = None
        if claim is None:
            return CommandResult(0, "absent\n")
        if claim.holder is Holder.DONE:
            return CommandResult(0, f"done {claim.returncode}\n")
        return CommandResult(0, f"{claim.holder.value}\n")

"""Checks and conversions of values that end up in a job script."""

from __future__ import annotations

import re

import pytest

from batchspawner_x.errors import ConfigError
from batchspawner_x.validation import (
    check_line,
    check_name,
    check_path,
    check_username,
    cpu_count,
    slug,
)

USERNAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"


def test_config_error_carries_field() -> None:
    with pytest.raises(ConfigError) as info:
        check_name("partition", "a b")
    assert info.value.field == "partition"
    assert str(info.value).startswith("partition: ")
    assert "'a b'" in info.value.message


# -- names --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "interactive", "gpu_a100", "proj-42", "normal.high", "a,b", "x@y"])
def test_check_name_valid(value: str) -> None:
    assert check_name("partition", value) == value


@pytest.mark.parametrize(
    "value",
    ["-p", "--uid=0", "a b", "a\nb", "a;b", "a'b", 'a"b', "$(id)", "`id`", "a/b", ".hidden", "a\tb"],
)
def test_check_name_invalid(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_name("partition", value)
    assert info.value.field == "partition"


# -- paths and lines ----------------------------------------------------------


@pytest.mark.parametrize("value", ["/", "/home/alice", "/scratch/alice/job-%j.out", "/home/a.b/c_d-e"])
def test_check_path_valid(value: str) -> None:
    assert check_path("workdir", value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "home/alice",
        "~/x",
        "/home/alice/../bob",
        "/home/alice/..",
        "/..",
        "/home/a b",
        "/home/$(id)",
        "/home/a;b",
        "/home/a\nb",
        "/home/'x'",
    ],
)
def test_check_path_invalid(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_path("workdir", value)
    assert info.value.field == "workdir"


@pytest.mark.parametrize("value", ["--constraint=skylake", "--exclusive", "--comment='a b'", ""])
def test_check_line_valid(value: str) -> None:
    assert check_line("extra_directives", value) == value


@pytest.mark.parametrize("value", ["a\nb", "a\r", "a\x00", "x\n#SBATCH --uid=0", "a\x7f", "\n"])
def test_check_line_invalid(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_line("extra_directives", value)
    assert info.value.field == "extra_directives"


# A trailing newline must be refused like any other line break (`$` alone would match before it).


def test_check_name_refuses_trailing_newline() -> None:
    with pytest.raises(ConfigError):
        check_name("partition", "interactive\n")


def test_check_path_refuses_trailing_newline() -> None:
    with pytest.raises(ConfigError):
        check_path("workdir", "/home/alice\n")


# -- user names ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["alice", "a", "_svc", "bob.smith", "user-1", "a" * 64])
def test_check_username_valid(value: str) -> None:
    assert check_username("ssh_username", value, USERNAME_PATTERN) == value


@pytest.mark.parametrize(
    "value", ["-rf", "a b", "alice$(id)", "../x", "", ".alice", "alice\n", "a" * 65, "alice;id", "al/ice"]
)
def test_check_username_invalid(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_username("ssh_username", value, USERNAME_PATTERN)
    assert info.value.field == "ssh_username"


# -- conversions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "cpus"), [(0.5, 1), (2, 2), (2.0, 2), (2.1, 3), (None, None), (0, None), (0.01, 1)]
)
def test_cpu_count(limit: float | None, cpus: int | None) -> None:
    got = cpu_count(limit)
    assert got == cpus
    if cpus is not None:
        assert type(got) is int


# -- slug -----------------------------------------------------------------------

SUFFIX = re.compile(r"-[0-9a-f]{8}$")


@pytest.mark.parametrize("name", ["alice", "bob-gpu", "a.b_c-d", "user1", "A"])
def test_slug_keeps_safe_names(name: str) -> None:
    assert slug(name) == name


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("alice@example.com", "alice-example.com"),
        ("jörg", "j-rg"),
        ("../x", "x"),
        (".hidden", "hidden"),
        ("-rf", "rf"),
        ("a b", "a-b"),
        ("a/b", "a-b"),
        ("$(id)", "id"),
        ("...", "x"),
        ("", "x"),
    ],
)
def test_slug_alters_unsafe_names(name: str, stem: str) -> None:
    result = slug(name)
    assert result != name
    assert SUFFIX.search(result), result
    assert result[:-9] == stem
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", result)


def test_slug_is_stable() -> None:
    assert slug("alice@example.com") == slug("alice@example.com")


def test_slug_distinct_for_distinct_inputs() -> None:
    names = ["a b", "a/b", "a@b", "a:b", "a\nb", "ä-b", ".a-b", "-a-b", "a-b.", "alice@example.com", "alice"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)


def test_slug_truncates_long_names() -> None:
    name = "a" * 100
    result = slug(name)
    assert result.startswith("a" * 40 + "-")
    assert len(result) == 49
    assert slug("a" * 40) == "a" * 40

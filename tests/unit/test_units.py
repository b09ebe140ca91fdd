"""The walltime and memory models: every accepted form, every refusal, the edges."""

from __future__ import annotations

import pytest

from batchspawner_x.errors import ConfigError
from batchspawner_x.units import (
    bytes_to_mib,
    check_walltime,
    format_clock,
    format_memory,
    format_walltime,
    memory_mib,
    optional_walltime_seconds,
    walltime_seconds,
)

# -- walltime ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("30", 1800),  # Slurm: a bare number is minutes
        ("90", 5400),
        ("1:30", 90),  # M:S
        ("30:15", 1815),
        ("2:00:00", 7200),  # H:M:S
        ("08:00:00", 28800),
        ("100:00:00", 360000),  # hours past a day
        ("1-12", 129600),  # D-H
        ("2-03:04", 183840),  # D-H:M
        ("1-12:00:00", 129600),  # D-H:M:S
        ("0-00:00:59", 59),
        ("1:99", 159),  # the parts are not bounded by 60, as in Slurm
        ("2.5", 9000),  # with a dot: hours
        ("8.", 28800),
        ("0.25", 900),
        (" 30 ", 1800),  # a typed value may carry spaces
        ("9" * 24, int("9" * 24) * 60),  # the longest text read
    ],
)
def test_walltime_seconds(text: str, seconds: int) -> None:
    assert walltime_seconds("walltime", text) == seconds


#: Refused by both :func:`walltime_seconds` and :func:`check_walltime`.
NOT_WALLTIMES = [
    "8h",
    "08:00:00; rm",
    "1-",
    "-1",
    "08:00:00:00",
    "08:000:00",
    "1:2:3x",
    "a",
    "1.5.0",
    "1-1.5",
    "1\n#SBATCH -A x",
    "1" * 25,
    "1" * 5000,  # int() would refuse it: the length check comes first
    "1-" + "2" * 5000,
]


@pytest.mark.parametrize(
    "text",
    [*NOT_WALLTIMES, "123456.5", "9" * 400 + ".5"],  # hours have at most five digits
)
def test_walltime_refusals_name_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a walltime such as 08:00:00") as info:
        walltime_seconds("profiles[small].walltime", text)
    assert info.value.field == "profiles[small].walltime"


def test_an_empty_walltime_is_required_or_none() -> None:
    with pytest.raises(ConfigError, match="walltime: a walltime is required"):
        walltime_seconds("walltime", " ")
    assert optional_walltime_seconds("walltime", "") is None
    assert optional_walltime_seconds("walltime", "0") == 0


@pytest.mark.parametrize("value", ["", "30", "30:00", "08:00:00", "1-00", "1-12:00:00", "1-12:00", "1" * 24])
def test_check_walltime_keeps_the_text(value: str) -> None:
    assert check_walltime("walltime", value) == value


@pytest.mark.parametrize(
    "value",
    [
        *NOT_WALLTIMES,
        " 1",  # the setting is written as it is: no spaces
        "1 ",
        "1.5",  # hours with a dot: only where a person types hours
        "08:00:00\n",  # a trailing newline too (`$` alone would match before it)
    ],
)
def test_check_walltime_refusals(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_walltime("walltime", value)
    assert info.value.field == "walltime"
    assert str(info.value).startswith("walltime: ")


@pytest.mark.parametrize(
    ("seconds", "walltime", "clock"),
    [
        (0, "00:00:00", "00:00:00"),
        (59, "00:00:59", "00:00:59"),
        (5400, "01:30:00", "01:30:00"),
        (86399, "23:59:59", "23:59:59"),
        (86400, "1-00:00:00", "24:00:00"),
        (129600, "1-12:00:00", "36:00:00"),
        (360000, "4-04:00:00", "100:00:00"),
    ],
)
def test_formats(seconds: int, walltime: str, clock: str) -> None:
    assert format_walltime(seconds) == walltime
    assert format_clock(seconds) == clock
    assert walltime_seconds("walltime", walltime) == seconds  # read back


# -- memory -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("4000", 4000),  # a bare number is MiB
        ("1", 1),
        ("512M", 512),
        ("512mb", 512),
        ("4G", 4096),
        ("4g", 4096),
        ("4GB", 4096),
        ("4gb", 4096),
        ("16GiB", 16384),
        ("16Gi", 16384),
        ("1.5G", 1536),
        ("1T", 1048576),
        ("1024K", 1),
        ("1K", 1),  # rounded up to a whole MiB
        ("1025K", 2),
        ("0.1G", 103),
        (" 4 G ", 4096),
        (4096, 4096),  # a number from a config file
    ],
)
def test_memory_mib(text: object, mib: int) -> None:
    assert memory_mib("memory", text) == mib


@pytest.mark.parametrize(
    "text",
    ["lots", "", "G", "4X", "4 potatoes", "-1G", "4B", "4iB", "1e3", "4G\n#SBATCH", "1" * 13, "1.1234567G"],
)
def test_memory_refusals_name_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match="is not an amount of memory such as 4G or 512M") as info:
        memory_mib("req_memory", text)
    assert info.value.field == "req_memory"


@pytest.mark.parametrize("text", ["0", "0G", "0.0M"])
def test_less_than_a_mib_is_refused_unless_zero_is_allowed(text: str) -> None:
    with pytest.raises(ConfigError, match="is less than 1M"):
        memory_mib("memory", text)
    assert memory_mib("req_memory", text, allow_zero=True) == 0


@pytest.mark.parametrize("text", ["16", "1.5", 16])
def test_a_bare_number_can_be_refused_with_the_unit_to_write(text: object) -> None:
    with pytest.raises(ConfigError) as info:
        memory_mib("profiles[small].memory", text, bare_number=False)
    assert info.value.field == "profiles[small].memory"
    assert info.value.message == f"{text} has no unit here: write {text}G for GiB or {text}M for MiB"
    assert memory_mib("memory", f"{text}G", bare_number=False) == memory_mib("memory", f"{text}G")


@pytest.mark.parametrize(
    ("limit", "mib"),
    [
        (4 * 2**30, 4096),
        (1, 1),
        (None, None),
        (0, None),
        (int(1.5 * 2**30), 1536),
        (1.5 * 2**30, 1536),
        (2**20, 1),
        (2**20 + 1, 2),
        (512 * 2**20, 512),
    ],
)
def test_bytes_to_mib(limit: float | None, mib: int | None) -> None:
    assert bytes_to_mib(limit) == mib


@pytest.mark.parametrize(
    ("mib", "text"), [(1, "1M"), (1024, "1G"), (1536, "1536M"), (2048, "2G"), (1048576, "1024G")]
)
def test_format_memory_reads_back(mib: int, text: str) -> None:
    assert format_memory(mib) == text
    assert memory_mib("memory", text, bare_number=False) == mib

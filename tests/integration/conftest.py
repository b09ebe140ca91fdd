from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import CLUSTER_ENV, Hub
from .test_gridengine import SGE_ENV, sge_env


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def _cluster_ready() -> None:
    if not CLUSTER_ENV.exists():
        if os.environ.get("BSX_REQUIRE_CLUSTER"):
            pytest.fail(f"{CLUSTER_ENV} is missing: run ci/cluster/up.sh first")
        pytest.skip("no local test cluster (run ci/cluster/up.sh)")
    if os.geteuid() != 0:
        pytest.fail("the integration tests inspect the cluster as root")


@pytest.fixture
def make_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Hub]]:
    hubs: list[Hub] = []

    def factory(extra_config: str = "", **kwargs: object) -> Hub:
        workdir = tmp_path_factory.mktemp("hub")
        hub = Hub(workdir, extra_config, **kwargs)  # type: ignore[arg-type]
        hub.start()
        hubs.append(hub)
        return hub

    yield factory
    users: set[str] = set()
    for hub in hubs:
        hub.terminate()
        users |= hub.spawned_users()
    # only the users this test spawned: other suites may run beside it
    for user in users:
        cluster.cancel_all(user)
        shutil.rmtree(f"/home/{user}/.batchspawner_x", ignore_errors=True)


@pytest.fixture
def hub(make_hub: Callable[..., Hub]) -> Hub:
    return make_hub()


@pytest.fixture(scope="session")
def sge() -> dict[str, str]:
    if not SGE_ENV.exists():
        if os.environ.get("BSX_REQUIRE_CLUSTER"):
            pytest.fail(f"{SGE_ENV} is missing: run ci/cluster/sge-up.sh first")
        pytest.skip("no Grid Engine test cluster (run ci/cluster/sge-up.sh)")
    return sge_env()

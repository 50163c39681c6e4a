from __future__ import annotations

import pytest

from pepperpy.cloud.agent.agent import Agent
from pepperpy.cloud.catalog.store import Catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.bundled()


@pytest.fixture(scope="session")
def agent(catalog: Catalog) -> Agent:
    return Agent(catalog=catalog, llm=False)

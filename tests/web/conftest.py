"""Fixtures of the dashboard's tests: the seeded worlds (see :mod:`web.world` and
:mod:`web.detection_world`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from web.detection_world import DetectionWorld, build_detection_world
from web.world import World, build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The seeded world, shared by the page tests and the browser tests."""
    built = build_world(tmp_path_factory.mktemp("web-world"))
    try:
        yield built
    finally:
        built.service.close()


@pytest.fixture(scope="session")
def detection_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DetectionWorld]:
    """The seeded detection world, shared by the Detection page's tests."""
    built = build_detection_world(tmp_path_factory.mktemp("detection-world"))
    try:
        yield built
    finally:
        built.service.close()

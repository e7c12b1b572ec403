"""The public surface of the intel loaders, fetchers and replay server is curated and documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "medwarden.intel.files",
    "medwarden.intel.fetch",
    "medwarden.intel.sources",
    "medwarden.intel.sources.base",
    "medwarden.intel.sources.nvd",
    "medwarden.intel.sources.nvd_fetch",
    "medwarden.intel.sources.cve5",
    "medwarden.intel.sources.osv",
    "medwarden.intel.sources.osv_fetch",
    "medwarden.intel.sources.kev",
    "medwarden.intel.sources.epss",
    "medwarden.intel.sources.feed_fetch",
    "medwarden.intel.sources._fields",
    "medwarden.intel.sources._http",
    "medwarden.testing.replay",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_resolves(name: str) -> None:
    """Every name in __all__ exists, once."""
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for item in exported:
        assert hasattr(module, item), f"{name}.{item}"


@pytest.mark.parametrize("name", MODULES)
def test_public_objects_have_docstrings(name: str) -> None:
    """Modules, and the classes, functions and public methods they export, are documented."""
    module = importlib.import_module(name)
    assert module.__doc__
    for item in module.__all__:
        value = getattr(module, item)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, f"{name}.{item}"
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if not attr.startswith("_") and inspect.isfunction(member):
                    assert member.__doc__, f"{name}.{item}.{attr}"


def test_parser_registry_has_one_parser_per_format() -> None:
    """The registry maps every IntelFormat to a parser, and refuses duplicates."""
    from medwarden.intel.sources import PARSERS, IntelFormat, _registry

    assert set(PARSERS) == set(IntelFormat)
    with pytest.raises(ValueError, match="duplicate"):
        _registry([(IntelFormat.OSV, PARSERS[IntelFormat.OSV])] * 2)

"""Lazy exports (PEP 562) for the subpackages' ``__init__``: a public name is imported from its
module when it is first asked for, so importing ``trialflow.adam`` loads none of its modules
and a command loads only what it uses (tests/test_command_imports.py pins which).

Example:
    >>> getattr_, dir_ = lazy_exports("trialflow.analysis", {"quantile": "stats"}, {})
    >>> getattr_("quantile").__module__
    'trialflow.analysis.stats'
    >>> getattr_("nothing")
    Traceback (most recent call last):
    AttributeError: module 'trialflow.analysis' has no attribute 'nothing'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``: ``exports`` maps each
    public name to the submodule defining it; a name, once imported, is kept in ``namespace``
    (the package's ``globals()``), so the next lookup does not come here.

    Example:
        >>> namespace = {}
        >>> getattr_, dir_ = lazy_exports("trialflow.adam", {"adam_label": "metadata"},
        ...                               namespace)
        >>> getattr_("adam_label")("ADSL"), "adam_label" in namespace, dir_()
        ('Subject-Level Analysis Dataset', True, ['adam_label'])
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__

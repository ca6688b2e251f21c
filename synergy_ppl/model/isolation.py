"""Parameter isolation by construction: every model and guide owns its parameters.

Pyro's ``PyroModule`` keeps parameters in a process-wide param store keyed by name unless
``pyro.settings.module_local_params`` is on while the module is built and called. With two
fitted models in one process that store silently trades weights between them: a call to
``a.guide`` writes a's values under names like ``locs.net.head.weight``, and a later call to
``b.guide`` copies them into b (``pyro/nn/module.py``, ``PyroModule.__getattr__``).

:class:`OwnParams` removes the setting from the caller's hands. A module built on it gets a
call context (the object every ``PyroModule`` entry point, ``__call__`` and each
``@pyro_method`` alike, enters) that turns the setting on for as long as the module runs.
Submodules share their root's context, so one mixin on a model's or guide's root class
covers the whole tree; Pyro's ``Predictive``, ``poutine.trace`` and a notebook's direct calls
all go through it, and the global store stays empty.
"""

from __future__ import annotations

import pyro
from pyro.nn import PyroModule
from pyro.nn.module import _Context

__all__ = ["OwnParams"]


class _OwnParamsContext(_Context):
    """A ``PyroModule`` call context whose parameters live in the module alone.

    Pyro's context reads the global setting when it is created and entered; this one holds
    ``module_local_params`` on from the outermost enter to the matching exit, whatever the
    caller set, and always keeps a local parameter state.
    """

    def __init__(self) -> None:
        with pyro.settings.context(module_local_params=True):
            super().__init__()
        self._caller_setting = False

    def __enter__(self) -> None:
        if not self.active:
            self._caller_setting = pyro.settings.get("module_local_params")
            pyro.settings.set(module_local_params=True)
        super().__enter__()

    def __exit__(self, kind, value, traceback) -> None:
        super().__exit__(kind, value, traceback)
        if not self.active:
            pyro.settings.set(module_local_params=self._caller_setting)


class OwnParams(PyroModule):
    """Mixin of a root ``PyroModule`` (a model or a guide): its parameters never enter Pyro's
    global param store, so no entry point needs ``module_local_params`` set around it.

    Put it before the Pyro base whose ``__init__`` builds submodules, e.g.
    ``class Guide(AutoNormal, OwnParams)`` or ``class Model(OwnParams)``: the context is
    swapped in as soon as ``PyroModule.__init__`` has run, before any submodule joins it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["_pyro_context"] = _OwnParamsContext()

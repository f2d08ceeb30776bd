"""Spatial pooling heads (class maps → scores), class-wise mean and the local SoftPool2d layer.

See SPEC section 2 for the exact formulas; ``functional`` holds the math, the modules hold parameters,
``registry`` maps names to heads (``POOLS``, ``build_pool``; its docstring says how to add a head).
The local SoftPool function is ``wsl.pooling.functional.softpool2d``: the package attribute
``softpool2d`` is the submodule holding the ``SoftPool2d`` layer, so the function is not re-exported
here (it would shadow the submodule).

``__all__`` is derived from the submodules' ``__all__``, which are themselves derived (the public
functions of ``functional``, the heads registered in ``modules``), so a new head is exported here
without editing this file.
"""

from __future__ import annotations

from wsl.pooling import functional, modules, registry
from wsl.pooling.functional import *  # noqa: F403
from wsl.pooling.modules import *  # noqa: F403  (importing it registers every head in POOLS)
from wsl.pooling.registry import *  # noqa: F403

# Imported after ``functional``'s names on purpose: loading a submodule binds it in the package
# namespace (Python reference, "Submodules"), so ``softpool2d`` is the submodule, not the function
# that the line above bound.
from wsl.pooling.softpool2d import *  # noqa: F403, I001

# isort: split
# The name the line above left bound (the submodule), spelled out for type checkers; it binds the
# same module again.
from wsl.pooling import softpool2d

__all__ = [
    "functional",
    *(name for name in functional.__all__ if name != "softpool2d"),
    *modules.__all__,
    *softpool2d.__all__,
    *registry.__all__,
]

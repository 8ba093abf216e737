"""``splade-qdrant serve``: an HTTP search and encoding service over one collection.

Needs the ``serve`` extra (FastAPI and uvicorn): ``pip install 'splade-qdrant[serve]'``.
``create_app`` is imported on first use, so importing the settings loads neither FastAPI nor torch.

Example:
    >>> from splade_qdrant.service import ServiceSettings, create_app  # doctest: +SKIP
    >>> app = create_app(ServiceSettings(collection="cran", store="./data"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError
from .settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]

if TYPE_CHECKING:  # pragma: no cover
    from .app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        try:
            import fastapi  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(exc.name or "fastapi", "serve", "splade-qdrant serve") from None
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

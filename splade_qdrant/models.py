"""Finding and loading SPLADE masked language models (transformers), both Hub layouts.

Two layouts exist on the Hugging Face Hub:

* **plain**: ``config.json`` + weights + tokenizer at the repository root;
* **sentence-transformers Router**: ``modules.json`` names a ``Router`` whose
  ``router_config.json`` maps each route (``"query"``, ``"document"``) to modules; each
  route's masked LM lives in a subfolder such as ``document_0_MLMTransformer/``. One
  repository then holds both encoders of an efficient-SPLADE pair.

:func:`locate` turns a model id or directory plus a side into a :class:`ModelLocation`
(where the masked LM is); :func:`load_masked_lm` loads it. Every failure becomes a
:class:`~splade_qdrant.errors.ModelNotFoundError` whose message says how to pass a local
directory.

Example:
    >>> locate("/no/such/dir", side="document")
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.ModelNotFoundError: model directory '/no/such/dir' does not exist; pass a local directory that holds config.json (or modules.json), e.g. --model ../shared/models/splade-tiny
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from .errors import ModelNotFoundError

__all__ = ["ModelLocation", "Side", "digest_of", "load_masked_lm", "locate", "max_positions", "model_digest", "quiet_transformers"]

logger = logging.getLogger(__name__)

Side = Literal["document", "query"]

_HUB_TIMEOUT_S = 3.0
_HINT = "pass a local directory that holds config.json (or modules.json), e.g. --model ../shared/models/splade-tiny"


@dataclass(frozen=True)
class ModelLocation:
    """Where one side's masked LM lives.

    Attributes:
        source: the id or directory the user gave.
        subfolder: subfolder of ``source`` holding the masked LM ("" for the root).
        is_local: True when ``source`` is a directory on disk.
    """

    source: str
    subfolder: str = ""
    is_local: bool = True

    @property
    def label(self) -> str:
        """``source`` or ``source::subfolder`` — what the fingerprint records."""
        return f"{self.source}::{self.subfolder}" if self.subfolder else self.source


def _looks_like_path(model: str) -> bool:
    """Hub ids are ``name`` or ``namespace/name``; anything else is meant as a path."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def _router_subfolder(read: Any, side: Side) -> str:
    """Return the subfolder of ``side``'s masked LM if ``modules.json`` names a Router, else ""."""
    modules_text = read("modules.json")
    if modules_text is None:
        return ""
    try:
        modules = json.loads(modules_text)
    except json.JSONDecodeError as exc:
        raise ModelNotFoundError(f"modules.json is not valid JSON ({exc}); {_HINT}") from None
    router = next((m for m in modules if str(m.get("type", "")).endswith("Router")), None)
    if router is None:
        return ""
    router_path = str(router.get("path", "")).strip("/")
    cfg_name = f"{router_path}/router_config.json" if router_path else "router_config.json"
    cfg_text = read(cfg_name)
    if cfg_text is None:
        raise ModelNotFoundError(f"modules.json names a Router but {cfg_name} is missing; {_HINT}")
    cfg = json.loads(cfg_text)
    structure: dict[str, list[str]] = cfg.get("structure", {})
    types: dict[str, str] = cfg.get("types", {})
    route = structure.get(side) or structure.get(cfg.get("parameters", {}).get("default_route") or "")
    if not route:
        raise ModelNotFoundError(f"the Router has no {side!r} route (routes: {sorted(structure)}); {_HINT}")
    mlm = next((m for m in route if types.get(m, "").endswith("Transformer")), None)
    if mlm is None:
        raise ModelNotFoundError(f"the Router's {side!r} route has no (MLM)Transformer module; {_HINT}")
    return f"{router_path}/{mlm}" if router_path else mlm


def _hub_reachable() -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=_HUB_TIMEOUT_S):
            return True
    except OSError:
        return False


def _hub_reader(repo_id: str) -> Any:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
    )

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")

    def read(name: str) -> str | None:
        try:
            path = hf_hub_download(repo_id, name, local_files_only=offline)
        except EntryNotFoundError:
            return None
        except LocalEntryNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 — translated at the boundary, by type and status code
            if isinstance(exc, HfHubHTTPError) and getattr(exc.response, "status_code", None) == 404:
                return None
            raise ModelNotFoundError(f"cannot download {name} of {repo_id!r} from the Hub: {exc}; {_HINT}") from None
        return Path(path).read_text(encoding="utf-8")

    return read


def locate(model: str, *, side: Side) -> ModelLocation:
    """Find ``side``'s masked LM for a Hub id or local directory.

    Raises:
        ModelNotFoundError: the directory does not exist, has no model, or the Hub is unreachable.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        root = path.resolve()

        def read(name: str) -> str | None:
            f = root / name
            return f.read_text(encoding="utf-8") if f.is_file() else None

        sub = _router_subfolder(read, side)
        if not (root / sub / "config.json").is_file():
            where = f"{root / sub}" if sub else f"{root}"
            raise ModelNotFoundError(f"no config.json in {where}: not a transformers model directory; {_HINT}")
        return ModelLocation(str(root), sub, is_local=True)
    if path.exists() or _looks_like_path(model):
        what = "is not a directory" if path.exists() else "does not exist"
        raise ModelNotFoundError(f"model directory {model!r} {what}; {_HINT}")
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    if not offline and not _hub_reachable():
        raise ModelNotFoundError(
            f"model {model!r} is not a local directory and the Hugging Face Hub cannot be reached; {_HINT}"
        )
    return ModelLocation(model, _router_subfolder(_hub_reader(model), side), is_local=False)


def _model_dir(location: ModelLocation) -> Path | None:
    """The local directory holding the masked LM's config.json (None for Hub models)."""
    if not location.is_local:
        return None
    return Path(location.source) / location.subfolder if location.subfolder else Path(location.source)


def max_positions(location: ModelLocation) -> int | None:
    """The model's position embeddings (``max_position_embeddings`` in config.json) for a local
    model, read without loading it; None when unknown (Hub models, other config layouts)."""
    folder = _model_dir(location)
    if folder is None:
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings", config.get("n_positions"))
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


#: Files whose content determines a model's vectors, besides the weights.
_CONFIG_FILES = ("config.json",)
_TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt",
    "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
)
#: JSON keys that name where a file was saved from, not what it holds.
_PATH_KEYS = ("_name_or_path", "name_or_path", "transformers_version", "tokenizer_file")
_digest_cache: dict[tuple[str, int, int], str] = {}
#: Loaded model object → its digest (weak: the entry goes with the model).
_loaded_digests: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_digest_lock = threading.Lock()


def _file_digest(path: Path) -> str:
    """sha256 of a file, streamed once per (path, size, mtime) in this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        cached = _digest_cache.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    if path.suffix == ".json":
        try:  # ignore the keys that record where the file was saved from
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = {k: v for k, v in data.items() if k not in _PATH_KEYS}
            h.update(json.dumps(data, sort_keys=True).encode())
        except ValueError:
            h.update(path.read_bytes())
    else:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    digest = h.hexdigest()
    with _digest_lock:
        _digest_cache[key] = digest
    return digest


def model_digest(location: ModelLocation) -> str | None:
    """What identifies a local model's vectors wherever it lies: a sha256 over its config,
    tokenizer files and weights (``*.safetensors``, else ``*.bin``), path-independent.

    Weights are hashed once per process (cached by path, size and modification time); the
    model directory is only read. None for Hub models (their id identifies them) and for
    directories without weights.
    """
    folder = _model_dir(location)
    if folder is None:
        return None
    root = Path(location.source)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        return None
    parts: list[tuple[str, Path]] = [(w.name, w) for w in weights]
    for name in _CONFIG_FILES + _TOKENIZER_FILES:
        f = folder / name if (folder / name).is_file() else root / name
        if f.is_file():
            parts.append((name, f))
    combined = hashlib.sha256()
    for name, f in parts:
        combined.update(f"{name}\0{_file_digest(f)}\n".encode())
    return combined.hexdigest()


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: tuple[int, bool] = (0, True)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings and weight-loading progress bars while loading.

    Thread-safe and restoring: the first of any concurrent or nested blocks saves the verbosity
    and progress-bar setting, the last one out puts back exactly those (a caller who had
    disabled the bars keeps them disabled)."""
    global _quiet_depth, _quiet_saved
    from transformers.utils import logging as hf_logging

    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                verbosity, bars = _quiet_saved
                hf_logging.set_verbosity(verbosity)
                if bars:
                    hf_logging.enable_progress_bar()


def load_masked_lm(location: ModelLocation) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for a located masked LM, in eval mode on CPU, float32."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if location.subfolder:
        kwargs["subfolder"] = location.subfolder
    if not location.is_local and os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        kwargs["local_files_only"] = True
    try:
        with quiet_transformers():
            model = AutoModelForMaskedLM.from_pretrained(location.source, dtype="float32", **kwargs)
            try:
                tokenizer = AutoTokenizer.from_pretrained(location.source, **kwargs)
            except (OSError, ValueError):
                if not location.subfolder:
                    raise
                tokenizer = AutoTokenizer.from_pretrained(location.source)  # tokenizer at the root
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"cannot load masked LM {location.label!r}: {first}; {_HINT}") from None
    model.eval()
    digest = model_digest(location)
    if digest is not None:
        _loaded_digests[model] = digest
    logger.info("loaded %s (%s)", location.label, type(model).__name__)
    return model, tokenizer


def digest_of(model: Any) -> str | None:
    """The :func:`model_digest` of a model that :func:`load_masked_lm` loaded (None for others:
    Hub models, models built in code)."""
    try:
        return _loaded_digests.get(model)
    except TypeError:  # not weak-referenceable
        return None

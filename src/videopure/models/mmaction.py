"""The one place that imports mmaction2 and works around the gaps of its 1.2.0 wheel.

mmaction2 1.2.0 as installed from PyPI cannot be imported as is (see ``docs/stack.md``, "mmaction2 1.2.0"):

* the wheel lacks ``mmaction/models/localizers/drn`` although ``localizers/__init__`` imports it,
  so ``import mmaction.models`` fails: we register a stub module in ``sys.modules`` first;
* with ``transformers`` installed, ``mmaction.models`` imports its multimodal models, which need
  ``timm``: we switch them off (``WITH_MULTIMODAL = False``) before importing.

Every other module of the package goes through :func:`import_mmaction` (it is idempotent), so
the workarounds live here only and no site-packages file is patched.

It also builds recognizers for random initialisation (no downloads) and reads the clip settings
of a config's test pipeline.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

_DRN_MODULES = ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn")
_imported = False


class _MissingDRN(nn.Module):
    """Stands in for mmaction2's DRN localizer, whose source the 1.2.0 wheel does not ship."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError("DRN is not part of the mmaction2 1.2.0 wheel; VideoPure does not use it")


def _mmaction_root() -> Path:
    import mmaction  # the top-level package imports cleanly; only mmaction.models does not

    return Path(mmaction.__file__).resolve().parent


@contextlib.contextmanager
def _known_warnings_silenced() -> Iterator[None]:
    """Hide warnings about choices this project made knowingly (docs/stack.md)."""
    with warnings.catch_warnings():
        # mmcv-lite has no compiled ops; mmaction2's recognizers do not need them.
        warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")
        # setuptools<81 is pinned because mmengine resolves 'mmaction::' configs with it.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        yield


def import_mmaction() -> None:
    """Import ``mmaction.models`` and register all mmaction2 modules (idempotent).

    After this call, mmaction2's registries know every recognizer, backbone and head, mmengine's
    default scope is ``mmaction``, and ``mmaction.apis`` can be imported.
    """
    global _imported
    if _imported:
        return
    if not (_mmaction_root() / "models" / "localizers" / "drn").is_dir():
        for name in _DRN_MODULES:
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules[_DRN_MODULES[1]].DRN = _MissingDRN  # type: ignore[attr-defined]

    import mmaction.utils.dependency as dependency

    dependency.WITH_MULTIMODAL = False
    with _known_warnings_silenced():
        from mmaction.utils import register_all_modules

        register_all_modules(init_default_scope=True)
    _imported = True


def resolve_config_path(path_or_uri: str | Path) -> Path:
    """A config file on disk, or ``'mmaction::<path under mmaction/.mim/configs>'``."""
    text = str(path_or_uri)
    if text.startswith("mmaction::"):
        path = _mmaction_root() / ".mim" / "configs" / text.split("::", 1)[1]
        where = f"'{text}' (looked for {path})"
    else:
        path = Path(text)
        where = f"'{path}'"
    if not path.is_file():
        raise FileNotFoundError(f"mmaction2 config {where} does not exist")
    return path


def load_model_config(path_or_uri: str | Path):
    """Load an mmaction2 config (a file path or ``'mmaction::recognition/...py'``) as ``mmengine.Config``.

    ``_base_ = ['mmaction::...']`` inside the file resolves against the installed mmaction2.
    """
    from mmengine.config import Config

    import_mmaction()
    with _known_warnings_silenced():
        return Config.fromfile(str(resolve_config_path(path_or_uri)))


def zoo_weights_url(path_or_uri: str | Path) -> str | None:
    """The model zoo's checkpoint URL for a config shipped with mmaction2 (its ``metafile.yml``), if any."""
    import yaml

    path = resolve_config_path(path_or_uri)
    metafile = path.parent / "metafile.yml"
    if not metafile.is_file():
        return None
    with open(metafile) as handle:
        models = (yaml.safe_load(handle) or {}).get("Models") or []
    for model in models:
        if Path(str(model.get("Config", ""))).name == path.name:
            return model.get("Weights")
    return None


def _random_init_cfg(cfg: Any) -> Any:
    """Recursively switch off every pretrained-weight source in a model config (no downloads)."""
    if isinstance(cfg, dict):
        out = {}
        for key, value in cfg.items():
            if key == "pretrained":
                out[key] = None
            elif key == "pretrained2d":
                out[key] = False
            elif key == "init_cfg" and isinstance(value, dict) and value.get("type") == "Pretrained":
                continue
            else:
                out[key] = _random_init_cfg(value)
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_random_init_cfg(v) for v in cfg)
    return cfg


def _reinit_non_local(model: nn.Module) -> None:
    """Make every non-local block start as the identity, with small embeddings.

    ResNet3d's ``init_weights`` Kaiming-initialises the non-local convolutions and sets every
    BatchNorm weight to 1, which undoes the blocks' own init: dot products of unnormalised
    embeddings then overflow to NaN. ``NonLocal3d.init_weights`` cannot be called again either,
    because with ``sub_sample=True`` g and phi are ``Sequential(ConvModule, MaxPool3d)``.
    """
    from mmcv.cnn import ConvModule
    from mmcv.cnn.bricks.non_local import _NonLocalNd
    from mmengine.model import constant_init, normal_init

    for block in model.modules():
        if not isinstance(block, _NonLocalNd):
            continue
        for name in ("g", "theta", "phi"):
            branch = getattr(block, name, None)
            if isinstance(branch, nn.Sequential):
                branch = branch[0]
            if isinstance(branch, ConvModule):
                normal_init(branch.conv, std=0.01)
        if block.conv_out.norm_cfg is None:
            constant_init(block.conv_out.conv, 0)
        else:
            constant_init(block.conv_out.norm, 0)


def build_recognizer(cfg, num_classes: int) -> nn.Module:
    """Build the recognizer of ``cfg`` with ``num_classes`` outputs and random weights.

    Pretrained sources are removed (``pretrained=None``, ``pretrained2d=False``, no
    ``Pretrained`` init_cfg), the model is initialised with ``init_weights()`` and its non-local
    blocks are re-initialised (see :func:`_reinit_non_local`). The returned module carries the
    config it was built from as ``.cfg`` (with the final ``num_classes``), like mmaction2's
    ``init_recognizer``.
    """
    import_mmaction()
    from mmaction.registry import MODELS
    from mmengine.logging import MMLogger

    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    cfg = copy.deepcopy(cfg)
    cfg.model.cls_head.num_classes = int(num_classes)
    cfg.model = _random_init_cfg(cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model))
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs one INFO paragraph per parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    _reinit_non_local(model)
    model.cfg = cfg
    return model

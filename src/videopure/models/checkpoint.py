"""Recognizer checkpoints in mmaction2's (mmengine's) format, loaded without unpickling code.

A checkpoint is what mmengine's ``Runner.save_checkpoint`` writes, minus the training state
that mmaction2's ``publish_model`` strips (optimizer, schedulers, message hub)::

    {"meta": {"cfg": <config text>, "dataset_meta": {"classes": [...]}, "mmengine_version": ...,
              "mmaction_version": ..., ...},
     "state_dict": <recognizer.state_dict()>}

(mmengine's ``time`` is left out, so the same weights give the same bytes)

so mmaction2's own ``init_recognizer(config, checkpoint)`` loads ours, and :func:`load_recognizer`
loads the model zoo's. Loading always uses ``torch.load(weights_only=True)``: the only extra
globals allowed are numpy's numeric scalars and dtypes, which older checkpoints carry in their
meta (e.g. a best score); anything else pickled in a file is refused.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videopure.cache import CorruptCacheError, rebuild_advice, save_torch_atomic
from torch import nn

from videopure.models.classifier import VideoClassifier
from videopure.models.mmaction import build_recognizer, load_model_config, zoo_weights_url


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint pickles objects that a weights-only load does not allow."""


def _numpy_scalar_globals() -> list[Any]:
    """What numpy scalars in a pickle reference: ``scalar`` (numpy 1 and 2 paths), dtypes."""
    from numpy._core.multiarray import scalar

    dtype_classes = {type(np.dtype(code)) for code in np.typecodes["AllInteger"] + np.typecodes["Float"] + "?"}
    return [
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),  # how numpy 1.x wrote it
        np.dtype,
        *sorted(dtype_classes, key=lambda cls: cls.__name__),
    ]


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain Python data (numpy scalars converted), so weights-only loads accept it."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"checkpoint meta {where} holds a {type(value).__name__}; only plain data can be stored")


def save_checkpoint(model: nn.Module, path: str | Path, class_names: Sequence[str], meta: Mapping[str, Any]) -> None:
    """Write ``model`` (a :class:`VideoClassifier` or an mmaction2 recognizer) to ``path`` atomically.

    Args:
        model: the recognizer's ``cfg`` attribute (set by ``build_recognizer``) is stored as text.
        path: destination; written under a temporary name, then renamed into place.
        class_names: stored as ``meta.dataset_meta.classes``, in output order.
        meta: extra plain-data fields (e.g. epoch, seed, accuracy), merged into ``meta``.
    """
    import mmaction
    import mmengine

    recognizer = model.recognizer if isinstance(model, VideoClassifier) else model
    num_outputs = recognizer.cls_head.num_classes
    if num_outputs != len(class_names):
        raise ValueError(f"the model has {num_outputs} outputs but {len(class_names)} class names were given")
    checkpoint_meta = _plain(dict(meta), "meta")
    checkpoint_meta.update(
        cfg=recognizer.cfg.pretty_text,
        dataset_meta={"classes": [str(name) for name in class_names]},
        mmengine_version=mmengine.__version__,
        mmaction_version=mmaction.__version__,
    )  # no save time (mmengine's runners add one): the same weights give the same file and identity
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in recognizer.state_dict().items())
    save_torch_atomic({"meta": checkpoint_meta, "state_dict": state_dict}, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` allowing numpy scalars in the meta, nothing else.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file pickles other objects (classes, functions); names them.
        videopure.cache.CorruptCacheError: the file is truncated or damaged; names it and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except (RuntimeError, ValueError):  # only zip-format files can be listed
            unsafe = []
        raise UnsafeCheckpointError(
            f"checkpoint '{path}' was refused: it pickles objects other than tensors and plain data "
            f"({', '.join(unsafe) or 'see below'}), which could run code when loaded. Re-save its "
            f"state_dict and meta as plain data.\n{exc}"
        ) from None
    except (OSError, RuntimeError, EOFError) as exc:  # torch's errors for a cut or damaged archive name no file
        raise CorruptCacheError(
            f"checkpoint '{path}' cannot be read, it is truncated or damaged ({exc}); if the workflow trained "
            f"it, {rebuild_advice(path)}; if it was downloaded, download it again"
        ) from None
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"checkpoint '{path}' holds a {type(checkpoint).__name__}, not a dict")
    return dict(checkpoint)


def _state_dict(checkpoint: Mapping[str, Any], path: Path) -> OrderedDict[str, torch.Tensor]:
    """The recognizer weights, with mmengine's own key revision (a leading ``module.``) applied."""
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"checkpoint '{path}' has no state_dict of tensors")
    return OrderedDict((k.removeprefix("module."), v) for k, v in state.items())


def _num_outputs(state: Mapping[str, torch.Tensor], path: Path) -> int:
    key = "cls_head.fc_cls.weight"
    if key not in state:
        raise ValueError(f"checkpoint '{path}' has no '{key}': is it an mmaction2 recognizer?")
    return int(state[key].shape[0])


def _same_name(a: str, b: str) -> bool:
    """Class names compare case-insensitively; '_' and ' ' are the same (Kinetics lists use both)."""
    return a.strip().lower().replace("_", " ") == b.strip().lower().replace("_", " ")


def _check_preprocessor(state: OrderedDict[str, torch.Tensor], recognizer: nn.Module, path: Path) -> None:
    """Drop the normalisation constants old checkpoints store, after checking they match the config.

    In mmaction2 1.x they are non-persistent buffers that come from the config (mmaction2's
    ``publish_model`` deletes them too), so a strict load must not see them; but a checkpoint
    trained with other constants would be silently misnormalised, hence the check.
    """
    for name in ("mean", "std"):
        stored = state.pop(f"data_preprocessor.{name}", None)
        expected = getattr(recognizer.data_preprocessor, name, None)
        if stored is not None and expected is not None and not torch.allclose(
            stored.float().reshape(-1), expected.float().reshape(-1)
        ):
            raise ValueError(
                f"checkpoint '{path}' was trained with data_preprocessor.{name}={stored.reshape(-1).tolist()} "
                f"but the config has {expected.reshape(-1).tolist()}"
            )


def _missing_checkpoint_message(config: Any, path: Path, config_key: str) -> str:
    if hasattr(config, "model"):
        source = "the mmaction2 model zoo"
    else:
        url = zoo_weights_url(config)
        source = f"the mmaction2 model zoo ({url})" if url else "the mmaction2 model zoo"
        source = f"{source} for config '{config}'"
    return (
        f"checkpoint '{path}' does not exist. Nothing is downloaded at run time: download the "
        f"mmaction2 checkpoint from {source}, put it on local disk and set {config_key} to its path"
    )


def load_recognizer(
    config: str | Path | Any,
    checkpoint_path: str | Path,
    class_names: Sequence[str] | None,
    device: str | torch.device = "cpu",
    config_key: str = "datasets.<dataset>.classifiers.<model>.checkpoint",
) -> VideoClassifier:
    """Build the recognizer of ``config`` and load ``checkpoint_path`` into it (strictly).

    Args:
        config: an mmaction2 config (path, ``'mmaction::...'`` or ``mmengine.Config``).
        checkpoint_path: an mmaction2 checkpoint (ours or the model zoo's).
        class_names: the dataset's class names in label order. The head must have as many
            outputs, and if the checkpoint records its classes they must be the same, in the same
            order (compared case-insensitively). None: take the checkpoint's classes, or
            ``class_<i>`` if it records none.
        device: where the returned classifier lives.
        config_key: the workflow config key that names the checkpoint, quoted in the error when
            the file is missing (with the model zoo's URL for configs shipped with mmaction2).

    Returns:
        A :class:`VideoClassifier` in eval mode.
    """
    path = Path(checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(_missing_checkpoint_message(config, path, config_key))
    checkpoint = read_checkpoint(path)
    state = _state_dict(checkpoint, path)
    num_outputs = _num_outputs(state, path)
    meta = checkpoint.get("meta") or {}
    recorded = (meta.get("dataset_meta") or {}).get("classes")
    if class_names is None:
        class_names = list(recorded) if recorded else [f"class_{i}" for i in range(num_outputs)]
    class_names = [str(name) for name in class_names]
    if num_outputs != len(class_names):
        raise ValueError(
            f"checkpoint '{path}' has a head with {num_outputs} outputs but the dataset has "
            f"{len(class_names)} classes"
        )
    if recorded:
        recorded = [str(name) for name in recorded]
        mismatches = [
            f"{i}: checkpoint '{a}' vs dataset '{b}'"
            for i, (a, b) in enumerate(zip(recorded, class_names, strict=False))
            if not _same_name(a, b)
        ]
        if mismatches or len(recorded) != len(class_names):
            raise ValueError(
                f"checkpoint '{path}' was trained with other classes or another class order than the "
                f"dataset's ({len(recorded)} vs {len(class_names)} classes; first differences: "
                f"{'; '.join(mismatches[:5])})"
            )

    cfg = config if hasattr(config, "model") else load_model_config(config)
    recognizer = build_recognizer(cfg, num_outputs)
    _check_preprocessor(state, recognizer, path)
    try:
        recognizer.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"checkpoint '{path}' does not fit the recognizer of the config: {exc}") from None
    return VideoClassifier(recognizer, class_names).to(device)

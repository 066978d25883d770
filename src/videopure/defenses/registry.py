"""Defenses by name: the registry the config's defense entries are built from.

A config entry is a spec ``{"type": <name>, **constructor arguments}``. ``type`` is either a
registered name (``"jpeg"``) or an import path ``"package.module:ClassName"``; the import path
lets a user add a defense with one class and one config entry, without editing this package.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from videopure.defenses.base import Purifier

if TYPE_CHECKING:
    from videopure.diffusion.bundle import LatentVideoDiffusion

P = TypeVar("P", bound=type[Purifier])

_DEFENSES: dict[str, type[Purifier]] = {}
DEFENSES: Mapping[str, type[Purifier]] = MappingProxyType(_DEFENSES)
"""Registered defenses, name -> class (read-only; add entries with :func:`register_defense`)."""


def register_defense(cls: P) -> P:
    """Class decorator: register a :class:`Purifier` subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Purifier)):
        raise TypeError(f"register_defense expects a Purifier subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"{cls.__qualname__}.name must be a non-empty string without ':', got {name!r}")
    missing = [flag for flag in ("stochastic", "exact_gradient") if not isinstance(getattr(cls, flag, None), bool)]
    if missing:
        raise ValueError(f"{cls.__qualname__} must set the boolean class attributes {missing}")
    if cls.auto_gradient not in (None, "bpda") and not (cls.auto_gradient == "exact" and cls.exact_gradient):
        raise ValueError(
            f"{cls.__qualname__}.auto_gradient must be None, 'bpda', or 'exact' for a differentiable defense; "
            f"got {cls.auto_gradient!r}"
        )
    registered = _DEFENSES.get(name)
    # The same class may be registered twice (a module re-imported, e.g. by importlib.reload).
    if registered is not None and (registered.__module__, registered.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"defense name {name!r} is already registered by {registered.__module__}.{registered.__qualname__}")
    _DEFENSES[name] = cls
    return cls


def resolve_defense(type_: str) -> type[Purifier]:
    """The class named by a spec's ``type``: a registered name or ``"package.module:ClassName"``."""
    if not isinstance(type_, str):
        raise ValueError(f"a defense type is a string, got {type_!r}")
    if ":" not in type_:
        if type_ not in _DEFENSES:
            raise ValueError(
                f"unknown defense {type_!r}; registered defenses are {sorted(_DEFENSES)}, "
                "or give an import path 'package.module:ClassName'"
            )
        return _DEFENSES[type_]
    module_name, _, attribute = type_.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import module {module_name!r} of defense {type_!r}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r} (defense {type_!r})")
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, Purifier)):
        raise ValueError(f"defense {type_!r} is {target!r}, not a subclass of videopure.defenses.Purifier")
    return target


def check_defense_spec(spec: Mapping[str, Any]) -> type[Purifier]:
    """The class of a spec ``{"type": <name or import path>, **constructor arguments}``, after
    checking its arguments against the constructor's signature and :meth:`Purifier.check_settings`
    — everything that can be told without building it (and its diffusion model)."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ValueError(f"a defense spec is a mapping with a 'type' key, got {spec!r}")
    cls = resolve_defense(spec["type"])
    kwargs = {key: value for key, value in spec.items() if key != "type"}
    parameters = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(kwargs) - set(parameters))
        if unknown:
            raise ValueError(
                f"defense {spec['type']!r} has no parameter(s) {unknown}; it takes {sorted(parameters)}"
            )
    supplied = {"model"} if cls.diffusion_based else set()
    missing = sorted(
        name
        for name, p in parameters.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and name not in kwargs
        and name not in supplied
    )
    if missing:
        raise ValueError(f"defense {spec['type']!r} needs parameter(s) {missing}")
    cls.check_settings({key: value for key, value in kwargs.items() if key != "model"})
    return cls


def highest_train_timestep(spec: Mapping[str, Any]) -> int:
    """The highest training timestep the diffusion defense of ``spec`` purifies at, on ModelScope's
    grid (its scheduler's train timesteps and offset): the range a UNet the workflow trains must have
    seen."""
    from videopure.diffusion.schedule import MODELSCOPE_SCHEDULER_CONFIG

    grid = MODELSCOPE_SCHEDULER_CONFIG["num_train_timesteps"], MODELSCOPE_SCHEDULER_CONFIG["steps_offset"]
    settings = {key: value for key, value in spec.items() if key != "type"}
    return resolve_defense(spec["type"]).highest_timestep(settings, *grid)


def build_defense(spec: Mapping[str, Any], diffusion_model: LatentVideoDiffusion | None = None) -> Purifier:
    """Build a defense from a spec ``{"type": <name or import path>, **constructor arguments}``.

    A diffusion-based defense (``diffusion_based = True``, e.g. ``{"type": "diffpure_ddpm", "tstar":
    101}``) receives ``diffusion_model`` as its ``model`` argument: the config names the defense and
    its parameters, the caller supplies the (large) model. The spec may pin the model with
    ``"model": <identity>`` — what :meth:`Purifier.settings` records — and then ``diffusion_model``
    must have that identity. Other defenses ignore ``diffusion_model``, so a caller can pass it to
    every spec.

    Raises:
        ValueError: for an unknown type (the message lists the registered names), a keyword the
            constructor does not take, a required one that is missing (the message names it), a
            value :meth:`Purifier.check_settings` refuses, or a diffusion-based defense without its
            model (or with another model than the spec names).
    """
    cls = check_defense_spec(spec)
    kwargs = {key: value for key, value in spec.items() if key != "type"}
    if cls.diffusion_based:
        if diffusion_model is None:
            raise ValueError(
                f"defense {spec['type']!r} is diffusion-based: pass its model, "
                "build_defense(spec, diffusion_model=LatentVideoDiffusion.from_pretrained(...))"
            )
        if "model" in kwargs and kwargs["model"] != diffusion_model.identity:
            raise ValueError(
                f"defense spec {spec['type']!r} names diffusion model {kwargs['model']!r} but the model given has "
                f"identity {diffusion_model.identity!r}"
            )
        kwargs["model"] = diffusion_model
    return cls(**kwargs)

"""Table III of the paper ("Defense performance under black-box attacks"): TT+MI crafted on one
recognizer and evaluated through each defense on another.

The paper crafts TT+MI (ε = 16/255, 10 steps) on NL to attack SlowFast and on SlowFast to attack
NL, on UCF-101 and Kinetics-400, and reports each defense's accuracy averaged over the four, for
None, JPEG, Temporal Shuffle, DiffPure_DDPM, DDIM Inversion and Ours. This table has a row per
transfer (dataset, source, target) and their Average, the paper's one row. No gradient of the target or of
the defense is used, so every cell is measured on any machine. A dataset with one recognizer may
name *surrogates* (config ``datasets.<name>.surrogates``): recognizers that only craft the attack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from videopure.evaluation.voting import vote_accuracy
from videopure.evaluation.settings import AttackSetting
from videopure.params import resolve_rows

#: The paper's columns after the undefended None.
PAPER_DEFENSES = ("JPEG", "TemporalShuffle", "DiffPure_DDPM", "DDIM_Inversion", "Ours")
AVERAGE = "Average"


@dataclass(frozen=True)
class Transfer:
    """Clips attacked on recognizer ``source`` of ``dataset``, classified by recognizer ``target``."""

    dataset: str
    source: str
    target: str


@dataclass(frozen=True)
class BlackboxTable:
    """Table III resolved from the config's ``blackbox`` section.

    Attributes:
        transfers: the (dataset, source, target) rows, empty where no dataset has two recognizers.
        defenses: the columns, the undefended "None" first.
        setting: TT+MI's radius, steps and clips (the folder of its attack files).
    """

    transfers: tuple[Transfer, ...]
    defenses: tuple[str, ...]
    setting: AttackSetting

    @property
    def columns(self) -> tuple[str, ...]:
        return ("Dataset", "Source", "Target", *self.defenses, "Clips")


def blackbox_table(config: Mapping[str, Any]) -> BlackboxTable:
    """Table III from the config's ``blackbox`` section; errors name the key."""
    keys = config["blackbox"]
    try:
        setting = AttackSetting.blackbox(config["attack"], keys["steps"], keys["clips"])
    except ValueError as error:
        raise ValueError(f"config key 'attack.blackbox_eps': {error}") from None
    defenses = resolve_rows(config, "blackbox", PAPER_DEFENSES)
    datasets = config["datasets"]
    if keys["pairs"] is None:
        transfers = tuple(
            Transfer(name, source, target)
            for name, spec in datasets.items()
            for source in (*spec["classifiers"], *spec.get("surrogates", {}))
            for target in spec["classifiers"]
            if source != target
        )
    else:
        transfers = tuple(Transfer(*pair) for pair in keys["pairs"])
        for index, transfer in enumerate(transfers):
            key = f"config key 'blackbox.pairs.{index}'"
            if transfer.dataset not in datasets:
                raise ValueError(f"{key}: {transfer.dataset!r} is not one of {sorted(datasets)}")
            spec = datasets[transfer.dataset]
            sources = [*spec["classifiers"], *spec.get("surrogates", {})]
            if transfer.source not in sources:
                raise ValueError(f"{key}: source {transfer.source!r} is not a recognizer or surrogate of {transfer.dataset!r}: {sources}")
            if transfer.target not in spec["classifiers"]:
                raise ValueError(f"{key}: target {transfer.target!r} is not a recognizer of {transfer.dataset!r}: {list(spec['classifiers'])}")
            if transfer.source == transfer.target:
                raise ValueError(f"{key}: source and target are both {transfer.source!r}: a black-box attack transfers to another recognizer")
    return BlackboxTable(transfers, ("None", *defenses), setting)


#: Why Table III cannot be built without a transfer (its rule says it; every other target builds).
NO_TRANSFER = (
    "results/table3.csv transfers attacks between two recognizers of a dataset, and no dataset has two: name a second "
    "one under datasets.<name>.classifiers, or one that only crafts the attack under datasets.<name>.surrogates "
    "(e.g. SlowFast: {{config: config/models/mini_slowfast.py}})"
)


@dataclass(frozen=True)
class TransferCell:
    """Every defense's votes (N, draws) on one transfer's clips, by defense name."""

    transfer: Transfer
    labels: np.ndarray
    votes: Mapping[str, np.ndarray]


def build_table3(setup: BlackboxTable, cells: Sequence[TransferCell]) -> pd.DataFrame:
    """One row per transfer and their Average (the paper's row: the mean over transfers of each
    defense's accuracy), percentages with one decimal; Clips per transfer (the Average: their sum)."""
    records = []
    for cell in cells:
        record: dict[str, Any] = {"Dataset": cell.transfer.dataset, "Source": cell.transfer.source,
                                  "Target": cell.transfer.target}  # fmt: skip
        for defense in setup.defenses:
            record[defense] = 100.0 * vote_accuracy(cell.votes[defense], cell.labels)
        record["Clips"] = len(cell.labels)
        records.append(record)
    if not records:
        raise ValueError("Table III has no transfer to show")
    average = {"Dataset": AVERAGE, "Source": "", "Target": ""}
    average |= {defense: float(np.mean([record[defense] for record in records])) for defense in setup.defenses}
    average["Clips"] = sum(record["Clips"] for record in records)
    table = pd.DataFrame.from_records([*records, average], columns=list(setup.columns))
    table[list(setup.defenses)] = table[list(setup.defenses)].round(1)
    return table


def table3_caption(setup: BlackboxTable, attack: Mapping[str, Any], draws: Mapping[str, int]) -> str:
    """What every number of Table III was measured under, from the attack's recorded settings."""
    draws_text = ", ".join(f"{defense} {n}" for defense, n in draws.items())
    return (
        f"Table III: accuracy (%) under black-box TT+MI (linf eps {setup.setting.label}, {attack['steps']} steps, step "
        f"{attack['alpha'] * 255:.3g}/255, momentum {attack['momentum']:g}, from the clean clip), crafted on the Source "
        f"recognizer and classified by the Target through each defense; Average: the mean over the rows above (the "
        f"paper's one row). Votes per clip: {draws_text}."
    )

"""The workflow's plan: from one validated config, what the workflow builds and what each job reads.

Snakemake's rules (``workflow/rules/*.smk``) ask a :class:`Plan` for every input, parameter and
wildcard range that depends on the config, so the plan is code a unit test reads without running
Snakemake. Input methods take the job's ``wildcards`` (anything with the wildcards as attributes)
and return paths from :mod:`videopure.paths`; a config that cannot build the asked-for target raises
:class:`~videopure.config.ConfigError` naming the key to set.

Adaptive attacks through a diffusion defense are scheduled or not when the plan is made (config
``diffusion_adaptive``, decided where Snakemake builds its job graph); a table then reads such an
attack's file where it is scheduled or an earlier run made it, so a CPU run keeps the cells a GPU run
filled (:meth:`Plan.scheduled`).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from videopure.config import ConfigError
from videopure.data.readers import read_split
from videopure.defenses import resolve_defense
from videopure.defenses.videopure import VideoPure
from videopure.evaluation.autoattack import autoattack_setup
from videopure.evaluation.columns import (
    ADAPTIVE_COLUMNS,
    BLACKBOX_COLUMN,
    COLUMNS_BY_SLUG,
    FULL_GRADIENT_COLUMNS,
    GRAYBOX_COLUMNS,
    adaptive_columns,
    decide_diffusion_adaptive,
    defense_specs,
    diffusion_adaptive_columns,
)
from videopure.evaluation.settings import AttackSetting
from videopure.evaluation.trajectories import flow_slug
from videopure.flow.train import RAFTTraining
from videopure.params import STAGE_CONFIG, declared_config, recognizer_spec, resolve_recognizer
from videopure.paths import (
    adaptive_file,
    autoattack_file,
    classifier_checkpoint,
    clean_latents_file,
    clean_split_predictions,
    diffusion_model_path,
    evalset_file,
    flow_file,
    frames_file,
    generated_split_list,
    graybox_file,
    graybox_latents_file,
    graybox_source,
    ground_truth_flow_file,
    gradient_checks_file,
    predictions_file,
    reconstructed_frames_file,
    result_file,
    setting_attack_file,
    setting_predictions_file,
    shared_clean_predictions_file,
    speed_report_file,
    trained_diffusion_dir,
    trained_flow_weights,
    trained_image_model_dir,
    trained_vae_dir,
    trajectory_file,
    transfer_predictions_file,
)
from videopure.plots.defenses import FIG4_ATTACKS, fig4_setup
from videopure.plots.sweeps import STEPS_METRICS, fig5a_setup
from videopure.tables.ablations import ABLATION_SOURCES, ablation_setup
from videopure.tables.budgets import BUDGET_COLUMNS, NO_FLOW_TO_ATTACK, budget_tables
from videopure.tables.sanity import unbounded_setup
from videopure.tables.table3 import NO_TRANSFER, blackbox_table
from videopure.tables.table5 import VIDEO_MODEL, model_slug, table5_setup

#: The splits rule generate_videos writes for a generated dataset.
GENERATED_SPLITS = ("train", "val", "test")

#: Every table and figure of the paper the workflow builds (rule artifact), and the config it used.
ARTIFACT = (
    *(result_file(f"table{n}.csv") for n in range(1, 13)),
    *(result_file(f"fig{n}.png") for n in ("2", "3", "4", "5a", "5b", "6")),
    result_file("claims.csv"),
    result_file("config.yaml"),
)

GRAYBOX_SLUGS = tuple(column.slug for column in GRAYBOX_COLUMNS)
ADAPTIVE_SLUGS = tuple(column.slug for column in ADAPTIVE_COLUMNS)
FULL_GRADIENT_SLUGS = tuple(column.slug for column in FULL_GRADIENT_COLUMNS)
#: The attack columns rule attack_setting runs.
SETTING_COLUMNS = tuple(sorted({*FIG4_ATTACKS, *STEPS_METRICS, *BUDGET_COLUMNS, BLACKBOX_COLUMN.slug}))


def one_of(names: Iterable[str]) -> str:
    """A wildcard constraint matching exactly ``names`` (none: a pattern that matches no value)."""
    return "|".join(re.escape(name) for name in names) or "^$"


@dataclass(frozen=True)
class Invocation:
    """How this Snakemake run was started, which a table's note repeats in the command that fills the
    cells it did not run: the Snakefile, the working directory, config files and ``--config`` overrides.
    """

    snakefile: str = "Snakefile"
    directory: str = "."
    configfiles: tuple[str, ...] = ()
    config_args: tuple[str, ...] = ()

    def fill_command(self, target: str) -> str:
        """This run's command for ``target`` with the adaptive attacks through diffusion defenses on."""
        command = ["snakemake"]
        if os.path.abspath(self.snakefile) != os.path.join(os.path.abspath(self.directory), "Snakefile"):
            command += ["--snakefile", self.snakefile, "--directory", self.directory]
        command += ["--cores", "4", target]
        if self.configfiles:
            command += ["--configfile", *self.configfiles]
        overrides = [arg for arg in self.config_args if not arg.startswith("diffusion_adaptive=")]
        command += ["--config", *overrides, "diffusion_adaptive=run"]
        return shlex.join(command)


class Plan:
    """What one validated config builds: Table I's rows and their variants, VideoPure's caches, the
    attacks at other settings, and each rule's inputs and parameters.

    Args:
        config: the workflow's config, validated and with the schema's defaults filled in.
        invocation: how the run was started (for the fill command under a table).
        exists: whether a path exists, relative to the working directory (a test passes its own).
    """

    def __init__(
        self,
        config: dict[str, Any],
        invocation: Invocation = Invocation(),
        exists: Callable[[str], bool] = os.path.exists,
    ) -> None:
        self.config = config
        self.invocation = invocation
        self.exists = exists
        self.diffusion_adaptive, self.diffusion_adaptive_reason = decide_diffusion_adaptive(config)
        self.datasets = config["datasets"]
        self.threads = config["threads"]
        self.defenses = defense_specs(config)
        self.ablations = ablation_setup(config)
        self.table5 = table5_setup(config, self.ablations.defense if self.ablations else None)
        self.autoattack = autoattack_setup(config)
        self.fig4 = fig4_setup(config)
        self.fig5a = fig5a_setup(config, self.ablations.defense) if self.ablations else None
        self.budget_tables = budget_tables(config)
        self.blackbox = blackbox_table(config)
        self.unbounded = unbounded_setup(config)
        self.table1_setting = AttackSetting.table1(config["attack"])
        self.flow_attack = self.budget_tables["table6"]
        # Table VI's VideoPure rows with the attacked flow model (rules attack_setting, predict_setting).
        self.flow_variants = self.flow_attack.variant_specs(self.defenses)
        self.ablation_variants = self.ablations.variant_specs() if self.ablations else {}
        # Table V's rows on an image diffusion model, and the model of each.
        self.table5_variants = self.table5.variant_specs(self.defenses)
        self.table5_models = self.table5.variant_models()
        # Every defense a job may name: Table I's rows, the VideoPure variants of the ablation tables
        # and of Table VI, and Table V's rows on image models.
        self.all_defenses = {**self.ablation_variants, **self.flow_variants, **self.table5_variants, **self.defenses}
        # The rows that rule attack_variant attacks by PGD+BPDA alone: the ablations' VideoPure
        # variants and Table V's rows on image models.
        self.variants = [
            name for name in {**self.ablation_variants, **self.table5_variants} if name not in self.defenses
        ]
        # The defenses attacked and voted at other settings than Table I's.
        self.setting_defenses = [*self.defenses, *self.flow_variants]
        self.diffusion_defenses = [
            name for name, spec in self.all_defenses.items() if resolve_defense(spec["type"]).diffusion_based
        ]
        # The defenses on the dataset's own diffusion model, whose latent caches they read (Table V's
        # image models encode their clips as they purify them).
        self.latent_cached = [name for name in self.diffusion_defenses if name not in self.table5_variants]
        # Table I's one-candidate diffusion rows: their clean clips are purified once for every
        # recognizer of the dataset (rule predict_clean), as their candidate does not depend on it.
        self.shared_clean = [
            name
            for name, spec in self.defenses.items()
            if name in self.latent_cached and not issubclass(resolve_defense(spec["type"]), VideoPure)
        ]
        # Table I's rows with a PGD+DiffAttack column (the full gradient through the diffusion model).
        self.full_gradient_defenses = [
            name
            for name, spec in self.defenses.items()
            if set(FULL_GRADIENT_COLUMNS) <= set(adaptive_columns(spec))
        ]
        self.videopure_defenses = {
            name: spec for name, spec in self.all_defenses.items() if spec["type"] == "videopure"
        }
        # VideoPure's caches: a trajectory per (t*, T, inversion kind), a flow per flow model (Table
        # VI's variants purify from scratch: rule predict_setting).
        cached = [spec for name, spec in self.videopure_defenses.items() if name not in self.flow_variants]
        self.trajectories = {
            VideoPure.spec_trajectory_key(spec): VideoPure.spec_trajectory(spec)
            for spec in cached
            if VideoPure.spec_trajectory_key(spec) is not None
        }
        flows = [VideoPure.spec_flow(spec) for spec in cached]
        self.flows = {flow_slug(flow): flow for flow in flows if flow is not None}

    # -- configuration -------------------------------------------------------------------------

    def stage_config(self, script: str) -> Callable[[Any], dict[str, Any]]:
        """params.config for the jobs of ``workflow/scripts/<script>.py``: the config keys the script
        reads, so that Snakemake reruns them when one changes (and a job sees no other key)."""
        return lambda wildcards: declared_config(
            self.config, STAGE_CONFIG[script], getattr(wildcards, "dataset", None)
        )

    def defense_spec(self, wildcards) -> dict[str, Any]:
        """The job's defense: a row of Table I or one of its variants."""
        return self.all_defenses[wildcards.defense]

    def generated(self, dataset: str) -> bool:
        return self.datasets[dataset]["source"] == "generated"

    def classifier_names(self, dataset: str) -> list[str]:
        return list(self.datasets[dataset]["classifiers"])

    def classifier_spec(self, wildcards) -> dict[str, Any]:
        """The recognizer's config entry (its mmaction2 config, checkpoint and clip settings)."""
        return self.datasets[wildcards.dataset]["classifiers"][wildcards.model]

    def checkpoint(self, dataset: str, model: str) -> str:
        return classifier_checkpoint(self.config, dataset, model)

    def recognizer_checkpoint(self, wildcards) -> str:
        """The job's recognizer: its configured checkpoint, or the one rule train_classifier writes."""
        return self.checkpoint(wildcards.dataset, wildcards.model)

    def recognizers(self, wildcards) -> list[str]:
        """The names of the job's dataset's recognizers."""
        return self.classifier_names(wildcards.dataset)

    def recognizer_checkpoints(self, dataset: str) -> dict[str, str]:
        """Every recognizer's checkpoint as a ``checkpoint_<model>`` input (what
        :func:`videopure.evaluation.loading.load_classifiers` reads)."""
        return {f"checkpoint_{model}": self.checkpoint(dataset, model) for model in self.classifier_names(dataset)}

    def diffusion_model(self, dataset: str) -> str:
        return diffusion_model_path(self.config, dataset)

    def dataset_diffusion_model(self, wildcards) -> str:
        """The job's dataset's diffusion model: the configured one, or the one rule train_unet writes."""
        return self.diffusion_model(wildcards.dataset)

    def defense_diffusion_model(self, dataset: str, defense: str) -> str:
        """The diffusion model ``defense`` runs on: a Table V row's image model, else the dataset's."""
        image_model = self.table5_models.get(defense)
        if image_model is None:
            return self.diffusion_model(dataset)
        return self.image_model_dir(dataset, image_model)

    @staticmethod
    def image_model_dir(dataset: str, image_model) -> str:
        """One of Table V's image models: its configured directory, or the one rule train_image_model writes."""
        return image_model.path or trained_image_model_dir(dataset, image_model.slug)

    def vae_dir(self, dataset: str) -> str:
        """The VAE of the dataset's diffusion model: the configured one's vae/, or rule train_vae's."""
        configured = self.datasets[dataset]["diffusion_model"]
        return f"{configured}/vae" if configured else trained_vae_dir(dataset)

    def dataset_vae(self, wildcards) -> str:
        return self.vae_dir(wildcards.dataset)

    def require_videopure(self, target: str) -> None:
        if self.ablations is None:
            raise ConfigError(
                f"{target} varies VideoPure, but no defense in config 'defenses' has type videopure; "
                "add one (e.g. Ours: {type: videopure}) or name it in 'ablations.defense'"
            )

    # -- what is scheduled ---------------------------------------------------------------------

    def scheduled(self, path: str, through_diffusion: bool) -> bool:
        """Whether a table reads ``path``, an attack's file: always, unless the attack goes through a
        diffusion defense; then where :attr:`diffusion_adaptive` schedules it or an earlier run made it.
        """
        return self.diffusion_adaptive or not through_diffusion or self.exists(path)

    def diffusion_adaptive_params(self, target: str) -> dict[str, Any]:
        """A table rule's view of the adaptive attacks through diffusion defenses: whether new ones are
        scheduled, and otherwise why not and the command that builds ``target`` with them."""
        return {
            "run": self.diffusion_adaptive,
            "reason": self.diffusion_adaptive_reason,
            "fill_command": "" if self.diffusion_adaptive else self.invocation.fill_command(target),
        }

    def row_sources(self, wildcards) -> list[str]:
        """Inputs of one row: for Table I clean, gray-box attacks and the defense's adaptive columns;
        for an ablation variant clean, gray-box PGD and PGD+BPDA; adaptive columns through a diffusion
        defense where :meth:`scheduled`."""
        dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
        spec = self.all_defenses[defense]
        if defense in self.defenses:
            columns = [*GRAYBOX_COLUMNS, *adaptive_columns(spec)]
        else:
            columns = [COLUMNS_BY_SLUG[source] for source in ABLATION_SOURCES[1:]]
        skippable = diffusion_adaptive_columns(spec)
        return ["clean"] + [
            column.slug
            for column in columns
            if self.scheduled(adaptive_file(dataset, model, defense, column.slug), column in skippable)
        ]

    # -- data, models and checks ---------------------------------------------------------------

    def eval_frames(self, wildcards) -> str:
        return self.eval_split_frames(wildcards.dataset)

    def eval_split_frames(self, dataset: str) -> str:
        """The frames of the dataset's evaluation split (config ``eval_split``)."""
        return frames_file(dataset, self.datasets[dataset]["eval_split"])

    def annotation_inputs(self, wildcards) -> dict[str, Any]:
        """What the frames stage reads: the generator's split list, or the downloaded annotations and
        every video the split lists, so a replaced or edited video reruns its frames job. The
        generated videos are the generator's, pinned by its params: `--forcerun generate_videos` after
        editing one."""
        dataset = self.datasets[wildcards.dataset]
        if self.generated(wildcards.dataset):
            return {"split_list": generated_split_list(wildcards.dataset, wildcards.split)}
        # a frame-folder dataset without annotations: one folder per class
        paths = {key: dataset[key] for key in ("annotations", "class_names") if dataset[key]}
        videos = read_split(dataset, wildcards.split, name=wildcards.dataset)
        paths["videos"] = [str(record.path) for record in videos.records]
        return paths

    def generated_flow_step(self, wildcards) -> int:
        """The generator's ground-truth flow spans as many frames as the dataset's clips read apart."""
        return self.datasets[wildcards.dataset]["clip"]["frame_interval"]

    def train_classifier_inputs(self, wildcards) -> dict[str, Any]:
        """The splits, the recognizer's mmaction2 config, and the train split through the VAE when
        training mixes reconstructions in (``train.vae_reconstructions`` > 0)."""
        dataset = wildcards.dataset
        inputs = {}
        if self.config["train"]["vae_reconstructions"] != 0:
            inputs["train_reconstructed"] = reconstructed_frames_file(dataset, "train")
        inputs["train"] = frames_file(dataset, "train")
        inputs["val"] = frames_file(dataset, "val")
        inputs["test"] = self.eval_frames(wildcards)
        inputs["model_config"] = recognizer_spec(self.config, dataset, wildcards.model)[1]["config"]
        return inputs

    def clean_predictions(self, wildcards) -> dict[str, str]:
        return {
            model: clean_split_predictions(wildcards.dataset, model)
            for model in self.classifier_names(wildcards.dataset)
        }

    def recognizer_inputs(self, wildcards) -> dict[str, str]:
        """What attacking or evaluating one recognizer on the evaluation set reads."""
        return {
            "frames": self.eval_frames(wildcards),
            "evalset": evalset_file(wildcards.dataset),
            "checkpoint": self.checkpoint(wildcards.dataset, wildcards.model),
        }

    def diffusion_checks_inputs(self, wildcards) -> dict[str, str]:
        """The trained model, the evaluation split's frames and every recognizer's checkpoint."""
        dataset = wildcards.dataset
        return {
            "diffusion_model": trained_diffusion_dir(dataset),
            "frames": self.eval_frames(wildcards),
            **self.recognizer_checkpoints(dataset),
        }

    def graybox_checks_inputs(self, wildcards) -> dict[str, str]:
        """The diffusion model, the evaluation set, and every recognizer's checkpoint and gray-box PGD clips."""
        dataset = wildcards.dataset
        inputs = {
            "diffusion_model": self.diffusion_model(dataset),
            "frames": self.eval_frames(wildcards),
            "evalset": evalset_file(dataset),
            **self.recognizer_checkpoints(dataset),
        }
        for model in self.classifier_names(dataset):
            inputs[f"pgd_{model}"] = graybox_file(dataset, model, "pgd")
        return inputs

    def image_model_inputs(self, wildcards) -> dict[str, str]:
        """The train split, and for a latent image model the dataset's VAE (rule train_image_model)."""
        inputs = {"train": frames_file(wildcards.dataset, "train")}
        if self.table5.by_slug(wildcards.image_model).kind == "image":
            inputs["vae"] = self.vae_dir(wildcards.dataset)
        return inputs

    # -- flow ----------------------------------------------------------------------------------

    def flow_weights(self, flow: dict[str, Any] | None) -> dict[str, str]:
        """A learned flow model's weights as an input ({} for classical flow): the paper's RAFT file,
        or the raft_small rule train_flow writes."""
        if flow is None or "weights" not in flow:
            return {}
        return {"flow_weights": flow["weights"]}

    def defense_flow_weights(self, defense: str) -> dict[str, str]:
        """The weights of a VideoPure defense's flow model, which its purifier loads."""
        if defense not in self.videopure_defenses:
            return {}
        return self.flow_weights(VideoPure.spec_flow(self.videopure_defenses[defense]))

    def checked_flows(self, wildcards) -> dict[str, dict[str, Any]]:
        """Every flow model the flow checks compare, by slug: the defenses', the classical ones, and on
        a generated dataset the raft_small rule train_flow trains."""
        specs = [*self.flows.values(), {"type": "farneback"}, {"type": "dis"}]
        if self.generated(wildcards.dataset):
            training = RAFTTraining(**self.config["flow_training"])
            specs.append(training.spec(trained_flow_weights(wildcards.dataset)))
        return {flow_slug(spec): spec for spec in specs}

    def flow_checks_inputs(self, wildcards) -> dict[str, str]:
        """The test split's frames and ground-truth flow, and the weights of every checked flow model."""
        inputs = {
            "frames": frames_file(wildcards.dataset, "test"),
            "truth": ground_truth_flow_file(wildcards.dataset, "test"),
        }
        for slug, spec in self.checked_flows(wildcards).items():
            if "weights" in spec:
                inputs[f"weights_{slug}"] = spec["weights"]
        return inputs

    # -- VideoPure's caches --------------------------------------------------------------------

    def source_latents(self, wildcards) -> str:
        """The latent cache of a VideoPure cache's source: ``clean`` or ``<model>/graybox/<column>``."""
        if wildcards.source == "clean":
            return clean_latents_file(wildcards.dataset)
        model, _, column = wildcards.source.split("/")
        return graybox_latents_file(wildcards.dataset, model, column)

    def flow_inputs(self, wildcards) -> dict[str, str]:
        """Rule flow: the evaluation set, the source's attack clips unless it is ``clean`` (checked
        against the evaluation set when read), its latents (for the latent grid), and the flow
        model's weights."""
        inputs = {
            "latents": self.source_latents(wildcards),
            "frames": self.eval_frames(wildcards),
            "evalset": evalset_file(wildcards.dataset),
        }
        if wildcards.source != "clean":
            model, _, column = wildcards.source.split("/")
            inputs["clips"] = graybox_file(wildcards.dataset, model, column)
        return {**inputs, **self.flow_weights(self.flows[wildcards.flow])}

    # -- attacks and votes ---------------------------------------------------------------------

    def adaptive_inputs(self, wildcards) -> dict[str, str]:
        """What an adaptive attack reads: the recognizer's inputs, and the diffusion model (and flow
        weights) if the defense has them."""
        inputs = self.recognizer_inputs(wildcards)
        if wildcards.defense in self.diffusion_defenses:
            inputs["diffusion_model"] = self.defense_diffusion_model(wildcards.dataset, wildcards.defense)
        inputs.update(self.defense_flow_weights(wildcards.defense))
        return inputs

    def predict_inputs(self, wildcards) -> dict[str, str]:
        """One Table I row's inputs; a diffusion defense also reads the cached latents z0 of the clean
        and gray-box clips (rules encode_clean, encode_graybox), VideoPure its trajectories and flows."""
        inputs = self.recognizer_inputs(wildcards)
        dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
        sources = self.row_sources(wildcards)
        for source in sources[1:]:
            if source in GRAYBOX_SLUGS:
                inputs[source] = graybox_file(dataset, model, source)
            else:
                inputs[source] = adaptive_file(dataset, model, defense, source)
        if defense in self.diffusion_defenses:
            inputs["diffusion_model"] = self.defense_diffusion_model(dataset, defense)
        if defense in self.shared_clean:
            inputs["shared_clean"] = shared_clean_predictions_file(dataset, defense)
        elif defense in self.latent_cached:
            inputs["latents_clean"] = clean_latents_file(dataset)
        if defense in self.latent_cached:
            for source in GRAYBOX_SLUGS:
                if source in sources:
                    inputs[f"latents_{source}"] = graybox_latents_file(dataset, model, source)
        if defense in self.videopure_defenses:
            inputs.update(self.defense_flow_weights(defense))
            spec = self.videopure_defenses[defense]
            key, flow = VideoPure.spec_trajectory_key(spec), VideoPure.spec_flow(spec)
            for source in sources:
                if source != "clean" and source not in GRAYBOX_SLUGS:
                    continue  # an adaptive attack's clips are purified from scratch
                cache_source = "clean" if source == "clean" else graybox_source(model, source)
                if key is not None:
                    inputs[f"trajectory_{source}"] = trajectory_file(dataset, key, cache_source)
                if flow is not None:
                    inputs[f"flow_{source}"] = flow_file(dataset, flow_slug(flow), cache_source)
        return inputs

    def shared_clean_inputs(self, wildcards) -> dict[str, str]:
        """What rule predict_clean reads: the clean evaluation set, its cached latents, the defense's
        diffusion model and every recognizer's checkpoint (``checkpoint_<model>``)."""
        dataset = wildcards.dataset
        return {
            "frames": self.eval_frames(wildcards),
            "evalset": evalset_file(dataset),
            "latents_clean": clean_latents_file(dataset),
            "diffusion_model": self.defense_diffusion_model(dataset, wildcards.defense),
            **self.recognizer_checkpoints(dataset),
        }

    def attack_at(self, dataset: str, model: str, defense: str, column: str, setting: AttackSetting) -> str:
        """The file of attack ``column`` (a slug) through ``defense`` ("None": gray-box) at ``setting``:
        Table I's where that is Table I's setting, else rule attack_setting's."""
        if not setting.is_table1(self.config["attack"]):
            return setting_attack_file(dataset, model, defense, column, setting.slug)
        if defense == "None":
            return graybox_file(dataset, model, column)
        return adaptive_file(dataset, model, defense, column)

    def predictions_at(self, dataset: str, model: str, defense: str, setting: AttackSetting) -> str:
        """A defense's votes on the attacks at ``setting``: Table I's row where it is Table I's setting."""
        if setting.is_table1(self.config["attack"]):
            return predictions_file(dataset, model, defense)
        return setting_predictions_file(dataset, model, defense, setting.slug)

    def setting_attack_inputs(self, wildcards) -> dict[str, str]:
        """Rule attack_setting: an adaptive attack's inputs, and the attacked flow model's weights where
        the setting's loss has a flow term (Table VI)."""
        inputs = self.adaptive_inputs(wildcards)
        if AttackSetting.from_slug(wildcards.setting).flow_weight:
            inputs["attacked_flow_weights"] = self.flow_attack.flow["weights"]
        return inputs

    def attacked_flow(self, wildcards) -> dict[str, Any] | None:
        """The flow model rule attack_setting attacks beside the recognizer: Table VI's where the
        setting's loss has a flow term, else None."""
        if AttackSetting.from_slug(wildcards.setting).flow_weight:
            return self.flow_attack.flow
        return None

    def setting_sources(self, wildcards) -> list[str]:
        """The attack columns rule predict_setting reads for a defense at a setting: gray-box PGD, and
        PGD+BPDA through the defense where :meth:`scheduled`."""
        dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
        setting = AttackSetting.from_slug(wildcards.setting)
        sources = ["pgd"]
        bpda = self.attack_at(dataset, model, defense, "pgd_bpda", setting)
        if defense != "None" and self.scheduled(bpda, defense in self.diffusion_defenses):
            sources.append("pgd_bpda")
        return sources

    def setting_predict_inputs(self, wildcards) -> dict[str, str]:
        """Rule predict_setting: the recognizer's inputs, each source's attack file, and the defense's
        diffusion model and flow weights (it purifies the clips from scratch: no caches)."""
        dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
        setting = AttackSetting.from_slug(wildcards.setting)
        inputs = self.adaptive_inputs(wildcards)
        for source in self.setting_sources(wildcards):
            through = "None" if source == "pgd" else defense
            inputs[source] = self.attack_at(dataset, model, through, source, setting)
        return inputs

    def transfer_defenses(self, wildcards) -> dict[str, dict[str, Any]]:
        """Table III's columns, by name: the defense specs rule predict_transfer votes with."""
        return {name: self.defenses[name] for name in self.blackbox.defenses}

    def transfer_inputs(self, wildcards) -> dict[str, str]:
        """Rule predict_transfer: the target recognizer's inputs, the TT+MI clips crafted on the
        source, and the diffusion model and flow weights of Table III's defenses."""
        dataset = wildcards.dataset
        inputs = self.recognizer_inputs(wildcards)
        inputs["attack"] = setting_attack_file(
            dataset, wildcards.source, "None", BLACKBOX_COLUMN.slug, wildcards.setting
        )
        if any(name in self.diffusion_defenses for name in self.blackbox.defenses):
            inputs["diffusion_model"] = self.diffusion_model(dataset)
        for name in self.blackbox.defenses:
            for key, path in self.defense_flow_weights(name).items():
                inputs[f"{key}_{name}"] = path
        return inputs

    # -- the VideoPure row's diagnostics -------------------------------------------------------

    def speed_defenses(self) -> dict[str, dict[str, Any]]:
        """Table X's two defenses, {name: spec}: the first diffpure_ddpm row and the ablations' VideoPure."""
        self.require_videopure(result_file("table10.csv"))
        ddpm = next((name for name, spec in self.defenses.items() if spec["type"] == "diffpure_ddpm"), None)
        if ddpm is None:
            raise ConfigError(
                "results/table10.csv compares DiffPure_DDPM with VideoPure: config 'defenses' needs a "
                "diffpure_ddpm row"
            )
        return {ddpm: self.defenses[ddpm], self.ablations.defense: self.defenses[self.ablations.defense]}

    def speed_report(self, wildcards) -> str:
        """The speed report Table X is made from: on the ablations' dataset and recognizer."""
        self.speed_defenses()
        return speed_report_file(self.ablations.dataset, self.ablations.model)

    def speed_inputs(self, wildcards) -> dict[str, str]:
        inputs = self.recognizer_inputs(wildcards)
        inputs["diffusion_model"] = self.diffusion_model(wildcards.dataset)
        inputs.update(self.defense_flow_weights(self.ablations.defense))
        return inputs

    def gradient_checks_inputs(self, wildcards) -> dict[str, str]:
        """The recognizer's inputs, its gray-box PGD clips and the diffusion model (rule gradient_checks)."""
        self.require_videopure(gradient_checks_file(wildcards.dataset, wildcards.model))
        inputs = self.recognizer_inputs(wildcards)
        inputs["pgd"] = graybox_file(wildcards.dataset, wildcards.model, "pgd")
        inputs["diffusion_model"] = self.diffusion_model(wildcards.dataset)
        inputs.update(self.defense_flow_weights(self.ablations.defense))
        return inputs

    def videopure_row_inputs(self, target: str) -> dict[str, str]:
        """What purifying clips of the ablations' recognizer with its VideoPure row reads (Figs. 2 and
        5 (a)): the evaluation set, the recognizer, the diffusion model and the row's flow weights."""
        self.require_videopure(target)
        dataset = self.ablations.dataset
        return {
            "frames": self.eval_split_frames(dataset),
            "evalset": evalset_file(dataset),
            "checkpoint": self.checkpoint(dataset, self.ablations.model),
            "diffusion_model": self.diffusion_model(dataset),
            **self.defense_flow_weights(self.ablations.defense),
        }

    # -- tables --------------------------------------------------------------------------------

    def table1_inputs(self, wildcards) -> dict[str, list[str]]:
        """Every dataset's evaluation set, each recognizer's clean votes and every row's predictions."""
        recognizers = [(dataset, model) for dataset in self.datasets for model in self.classifier_names(dataset)]
        return {
            "evalsets": [evalset_file(dataset) for dataset in self.datasets],
            "clean": [clean_split_predictions(dataset, model) for dataset, model in recognizers],
            "predictions": [
                predictions_file(dataset, model, defense) for dataset, model in recognizers for defense in self.defenses
            ],
        }

    def ablation_predictions(self, wildcards) -> dict[str, str]:
        """The prediction files of one ablation table's rows (rule ablation_table)."""
        self.require_videopure(result_file(f"{wildcards.table}.csv"))
        return {
            name: predictions_file(self.ablations.dataset, self.ablations.model, name)
            for name, _ in self.ablations.rows(wildcards.table)
        }

    def sweep_predictions(self, wildcards) -> dict[str, str]:
        """The prediction files of one sweep figure's points (rule sweep_figure)."""
        self.require_videopure(result_file(f"{wildcards.figure}.png"))
        return {
            name: predictions_file(self.ablations.dataset, self.ablations.model, name)
            for _, name in self.ablations.sweep(wildcards.figure)
        }

    def table2_inputs(self, wildcards) -> dict[str, str]:
        """Table II's AutoAttack files by defense: every row, but through a diffusion defense only
        where :meth:`scheduled` (as Table I's cells)."""
        setup = self.autoattack
        if not setup.defenses:
            raise ConfigError(
                "results/table2.csv needs defenses: config 'defenses' has none of Table II's rows "
                "(TemporalShuffle, DiffPure_DDPM, Ours); name some in 'autoattack.defenses'"
            )
        paths = {defense: autoattack_file(setup.dataset, setup.model, defense) for defense in setup.defenses}
        return {
            defense: path
            for defense, path in paths.items()
            if self.scheduled(path, defense in self.diffusion_defenses)
        }

    def table3_inputs(self, wildcards) -> list[str]:
        """Every transfer's votes (rule predict_transfer), in Table III's row order."""
        if not self.blackbox.transfers:
            raise ConfigError(NO_TRANSFER)
        return [
            transfer_predictions_file(transfer.dataset, transfer.target, transfer.source, self.blackbox.setting.slug)
            for transfer in self.blackbox.transfers
        ]

    def table5_inputs(self, wildcards) -> dict[str, str]:
        """Table V's prediction files by row, and each diffusion model's directory (its "Model here"),
        as ``model_<slug>`` (rule table5)."""
        self.require_videopure(result_file("table5.csv"))
        missing = self.table5.missing_models()
        if missing:
            raise ConfigError("results/table5.csv: image models are missing:\n  - " + "\n  - ".join(missing))
        setup = self.table5
        inputs = {name: predictions_file(setup.dataset, setup.model, name) for _, _, name in setup.rows()}
        inputs[f"model_{model_slug(VIDEO_MODEL)}"] = self.diffusion_model(setup.dataset)
        for image_model in setup.image_models.values():
            inputs[f"model_{image_model.slug}"] = self.image_model_dir(setup.dataset, image_model)
        return inputs

    def budget_inputs(self, wildcards) -> list[str]:
        """The predictions file of every cell of the table (rule budget_table)."""
        return [path for _, _, path in self.budget_cells(wildcards.table)]

    def budget_cells(self, table: str) -> list[list[str]]:
        """Every cell of Table VI, XI or XII: [defense, setting slug, its predictions file], the
        undefended "None" row (w/o Defense) first at each setting."""
        setup = self.budget_tables[table]
        if table == "table6" and setup.flow is None:
            raise ConfigError(NO_FLOW_TO_ATTACK.format(dataset=setup.dataset))
        if not setup.defenses:
            raise ConfigError(
                f"results/{table}.csv needs defenses: config 'defenses' has none of its rows "
                f"({', '.join(setup.paper_defenses)}); name some in '{setup.section}.defenses'"
            )
        return [
            [defense, setting.slug, self.predictions_at(setup.dataset, setup.model, defense, setting)]
            for setting in setup.settings
            for defense in ("None", *setup.defenses)
        ]

    # -- figures -------------------------------------------------------------------------------

    def scheduled_attacks(self, setup, cells: Iterable[tuple[str, str, AttackSetting]]) -> list[str]:
        """The files of ``cells`` (defense, column slug, setting) on a figure ``setup``'s dataset and
        recognizer whose attack ran or is scheduled (through a diffusion defense, as Table I's cells)."""
        paths = [
            (self.attack_at(setup.dataset, setup.model, *cell), cell[0] in self.diffusion_defenses)
            for cell in cells
        ]
        return [path for path, through_diffusion in paths if self.scheduled(path, through_diffusion)]

    def fig2_inputs(self, wildcards) -> dict[str, str]:
        """The VideoPure row's inputs (Table IV's variants of it are Fig. 2's) and the gray-box PGD clips."""
        inputs = self.videopure_row_inputs(result_file("fig2.png"))
        inputs["pgd"] = graybox_file(self.ablations.dataset, self.ablations.model, "pgd")
        return inputs

    def fig2_purifiers(self, wildcards) -> dict[str, dict[str, Any]]:
        """Fig. 2's purified images by name: Table IV's first two rows (DDIM inversion, then temporal
        DDIM inversion, neither optimised nor voted), as defense specs."""
        rows = self.ablations.rows("table4")[:2]
        return {image: self.ablations.variant_specs()[name] for image, (name, _) in zip(("x_di", "x_tdi"), rows)}

    def fig3_inputs(self, wildcards) -> dict[str, str]:
        """Table I, and the PGD+BPDA file of each of its defense rows on the ablations' recognizer
        whose attack ran or is scheduled (Fig. 3 (b)'s loss traces)."""
        dataset, model = resolve_recognizer(self.config, "ablations")
        inputs = {"table1": result_file("table1.csv")}
        for defense in self.defenses:
            path = adaptive_file(dataset, model, defense, "pgd_bpda")
            if defense != "None" and self.scheduled(path, defense in self.diffusion_defenses):
                inputs[defense] = path
        return inputs

    def fig4_inputs(self, wildcards) -> list[str]:
        """Fig. 4's attack files, one per (defense, attack) line whose attack ran or is scheduled."""
        setting = self.table1_setting.at(self.fig4.steps, self.fig4.clips)
        cells = [(defense, column.slug, setting) for defense, column in self.fig4.cells(self.defenses)]
        return self.scheduled_attacks(self.fig4, cells)

    def fig4_lines(self, wildcards) -> list[list[str]]:
        """Every line Fig. 4 draws where measured: [defense, attack name]."""
        return [[defense, column.name] for defense, column in self.fig4.cells(self.defenses)]

    def fig5a_inputs(self, wildcards) -> dict[str, Any]:
        """The VideoPure row's inputs, and every Fig. 5 (a) attack file that ran or is scheduled."""
        inputs: dict[str, Any] = self.videopure_row_inputs(result_file("fig5a.png"))
        cells = [
            (defense, column, self.table1_setting.at(steps, clips))
            for defense, column, steps, clips in self.fig5a.cells()
        ]
        inputs["attacks"] = self.scheduled_attacks(self.fig5a, cells)
        return inputs

    # -- the claims report ---------------------------------------------------------------------

    def sanity_cells(self) -> list[list[str]]:
        """The claims report's check S2: [defense, setting slug, its predictions file] for the bare
        recognizer ("None", gray-box PGD) and each of config 'sanity.defenses' at the unbounded
        radius; the file is "" where PGD+BPDA through the defense is neither scheduled nor made (a
        diffusion defense on a CPU: the report says so), as no other number of that file is read."""
        setup = self.unbounded
        cells = []
        for defense in ("None", *setup.defenses):
            path = self.predictions_at(setup.dataset, setup.model, defense, setup.setting)
            if defense != "None":
                bpda = self.attack_at(setup.dataset, setup.model, defense, "pgd_bpda", setup.setting)
                if not self.scheduled(bpda, defense in self.diffusion_defenses):
                    path = ""
            cells.append([defense, setup.setting.slug, path])
        return cells

    def claims_inputs(self, wildcards) -> dict[str, Any]:
        """Rule claims: every table and figure CSV a claim reads that this config builds (by name, as
        videopure.tables.claims.SOURCES), Table I's cell settings, and S2's predictions."""
        inputs: dict[str, Any] = {
            "table1": result_file("table1.csv"),
            "table1_settings": result_file("table1_settings.json"),
        }
        names = []
        if self.ablations:
            names += ["table4", "table7", "table8", "table10", "fig5a", "fig5b", "fig6"]
            if not self.table5.missing_models():  # else C12 reads "not measured here"
                names.append("table5")
        if self.budget_tables["table11"].defenses:
            names.append("table11")
        inputs.update({name: result_file(f"{name}.csv") for name in names})
        inputs["unbounded"] = [path for _, _, path in self.sanity_cells() if path]
        return inputs

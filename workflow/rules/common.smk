# Shared by every rule: validated config, paths of each stage's files, input functions.
import os
import re
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from videopure.config import ConfigError, check_cross_fields, missing_local_inputs
from videopure.data.readers import read_split
from videopure.defenses import resolve_defense
from videopure.evaluation.robust import (
    ADAPTIVE_COLUMNS,
    BLACKBOX_COLUMN,
    FULL_GRADIENT_COLUMNS,
    GRAYBOX_COLUMNS,
    adaptive_columns,
    defense_specs,
    COLUMNS_BY_SLUG,
    decide_diffusion_adaptive,
    diffusion_adaptive_columns,
)
from videopure.evaluation.settings import SLUG_WILDCARD, AttackSetting
from videopure.evaluation.autoattack import autoattack_setup
from videopure.evaluation.trajectories import (
    flow_slug,
    flow_spec,
    trajectory_key,
    trajectory_settings,
)
from videopure.flow.train import RAFTTraining
from videopure.plots.defenses import FIG4_ATTACKS, fig4_setup
from videopure.plots.sweeps import STEPS_METRICS, fig5a_setup
from videopure.params import (
    STAGE_CONFIG,
    declared_config,
    recognizer_spec,
    resolve_recognizer,
)
from videopure.paths import (
    adaptive_file,
    autoattack_file,
    classifier_checkpoint,
    clean_latents_file,
    clean_split_predictions,
    diffusion_model_path,
    diffusion_checks_file,
    evalset_file,
    flow_file,
    frames_file,
    graybox_checks_file,
    graybox_file,
    ground_truth_flow_file,
    graybox_latents_file,
    graybox_source,
    predictions_file,
    reconstructed_frames_file,
    setting_attack_file,
    setting_predictions_file,
    transfer_predictions_file,
    trajectory_file,
    trained_checkpoint,
    trained_diffusion_dir,
    trained_flow_weights,
    trained_image_model_dir,
    trained_vae_dir,
)
from videopure.tables.budgets import BUDGET_COLUMNS, NO_FLOW_TO_ATTACK, budget_tables
from videopure.tables.table3 import NO_TRANSFER, blackbox_table
from videopure.tables.table5 import VIDEO_MODEL, model_slug, table5_setup
from videopure.tables.sanity import unbounded_setup
from videopure.tables.ablations import (
    ABLATION_TABLES,
    FIGURES,
    ABLATION_SOURCES,
    ablation_setup,
)

# Progress bars redraw at most every 30 s, so rule logs stay readable (tqdm reads TQDM_* defaults).
os.environ.setdefault("TQDM_MININTERVAL", "30")
# Every job inherits these glibc settings: without them glibc hands the large tensors a step frees
# back to the kernel and faults them in again at the next step (up to 240 000 minor page faults a
# second); with them torch jobs took 7-34 % less wall time with bit-identical outputs
# (docs/results/2026-12-03-page-faults.md).
os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", "4294967296")
os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", "4294967296")

validate(config, "../schemas/config.schema.yaml")
try:
    check_cross_fields(config)
except ConfigError as error:
    raise WorkflowError(str(error))

_missing = missing_local_inputs(config)
if _missing:
    raise WorkflowError(
        "local inputs are missing (nothing has been computed):\n  - "
        + "\n  - ".join(_missing)
    )

# Decided here, where the job graph is built, never inside a job (config 'diffusion_adaptive').
DIFFUSION_ADAPTIVE, DIFFUSION_ADAPTIVE_REASON = decide_diffusion_adaptive(config)
DATASETS = config["datasets"]
THREADS = config["threads"]
GENERATED_SPLITS = ["train", "val", "test"]
DEFENSES = defense_specs(config)
ABLATIONS = ablation_setup(config)
TABLE5 = table5_setup(config, ABLATIONS.defense if ABLATIONS else None)
AUTOATTACK = autoattack_setup(config)
FIG4 = fig4_setup(config)
FIG5A = fig5a_setup(config, ABLATIONS.defense) if ABLATIONS else None
BUDGET_TABLES = budget_tables(config)
BLACKBOX = blackbox_table(config)
UNBOUNDED = unbounded_setup(config)
TABLE1_SETTING = AttackSetting.table1(config["attack"])
# The attack columns rule attack_setting runs.
SETTING_COLUMNS = sorted(
    {*FIG4_ATTACKS, *STEPS_METRICS, *BUDGET_COLUMNS, BLACKBOX_COLUMN.slug}
)
FLOW_ATTACK = BUDGET_TABLES["table6"]
# Table VI's VideoPure rows with the attacked flow model (rules attack_setting, predict_setting).
FLOW_VARIANTS = FLOW_ATTACK.variant_specs(DEFENSES)
ABLATION_VARIANTS = ABLATIONS.variant_specs() if ABLATIONS else {}
# Table V's rows on an image diffusion model, and the model of each.
TABLE5_VARIANTS = TABLE5.variant_specs(DEFENSES)
TABLE5_MODELS = TABLE5.variant_models()
# Every defense a job may name: Table I's rows, the VideoPure variants of the ablation tables and
# of Table VI, and Table V's rows on image models.
ALL_DEFENSES = {**ABLATION_VARIANTS, **FLOW_VARIANTS, **TABLE5_VARIANTS, **DEFENSES}
# The rows that rule attack_variant attacks by PGD+BPDA alone, the ablations' VideoPure variants
# and Table V's rows on image models.
VARIANTS = [
    name for name in {**ABLATION_VARIANTS, **TABLE5_VARIANTS} if name not in DEFENSES
]
# The defenses attacked and voted at other settings than Table I's.
SETTING_DEFENSES = [*DEFENSES, *FLOW_VARIANTS]
DIFFUSION_DEFENSES = [
    name
    for name, spec in ALL_DEFENSES.items()
    if resolve_defense(spec["type"]).diffusion_based
]
# The defenses on the dataset's own diffusion model, whose latent caches they read (Table V's image
# models encode their clips as they purify them).
LATENT_CACHED = [name for name in DIFFUSION_DEFENSES if name not in TABLE5_VARIANTS]
# Table I's rows with a PGD+DiffAttack column (the full gradient through the diffusion model).
FULL_GRADIENT_DEFENSES = [
    name
    for name, spec in DEFENSES.items()
    if set(FULL_GRADIENT_COLUMNS) <= set(adaptive_columns(spec))
]
VIDEOPURE_DEFENSES = {
    name: spec for name, spec in ALL_DEFENSES.items() if spec["type"] == "videopure"
}
# VideoPure's caches: a trajectory per (t*, T, inversion kind), a flow per flow model (Table VI's
# variants purify from scratch: rule predict_setting).
CACHED_VIDEOPURE = [
    spec for name, spec in VIDEOPURE_DEFENSES.items() if name not in FLOW_VARIANTS
]
TRAJECTORIES = {
    trajectory_key(spec): trajectory_settings(spec)
    for spec in CACHED_VIDEOPURE
    if trajectory_key(spec) is not None
}
FLOWS = {
    flow_slug(flow_spec(spec)): flow_spec(spec)
    for spec in CACHED_VIDEOPURE
    if flow_spec(spec) is not None
}
GRAYBOX_SLUGS = [column.slug for column in GRAYBOX_COLUMNS]
# Every table and figure of the paper the workflow builds (rule artifact).
ARTIFACT = [
    *(f"results/table{n}.csv" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)),
    *(f"results/fig{n}.png" for n in ("2", "3", "4", "5a", "5b", "6")),
    "results/claims.csv",
    "results/config.yaml",
]
ADAPTIVE_SLUGS = [column.slug for column in ADAPTIVE_COLUMNS]
FULL_GRADIENT_SLUGS = [column.slug for column in FULL_GRADIENT_COLUMNS]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="[A-Za-z0-9]+",
    split="[a-z]+",
    defense="|".join(re.escape(name) for name in ALL_DEFENSES),


def stage_config(script):
    """params.config for the jobs of workflow/scripts/<script>.py, the config keys the script reads,
    so that Snakemake reruns them when one changes (and a job sees no other key)."""
    return lambda wildcards: declared_config(
        config, STAGE_CONFIG[script], wildcards.get("dataset")
    )


def generated(dataset):
    return DATASETS[dataset]["source"] == "generated"


def classifier_names(dataset):
    return list(DATASETS[dataset]["classifiers"])


def checkpoint_path(dataset, model):
    return classifier_checkpoint(config, dataset, model)


def diffusion_model_dir(dataset):
    return diffusion_model_path(config, dataset)


def defense_diffusion_model(dataset, defense):
    """The diffusion model ``defense`` runs on: a Table V row's image model, else the dataset's."""
    image_model = TABLE5_MODELS.get(defense)
    if image_model is None:
        return diffusion_model_dir(dataset)
    return image_model.path or trained_image_model_dir(dataset, image_model.slug)


def vae_dir(dataset):
    """The VAE of the dataset's diffusion model: the configured one's vae/, or rule train_vae's."""
    configured = DATASETS[dataset]["diffusion_model"]
    return f"{configured}/vae" if configured else trained_vae_dir(dataset)


def reconstructed_train_input(wildcards):
    """The train split through the VAE, when recognizer training mixes reconstructions in."""
    if config["train"]["vae_reconstructions"] == 0:
        return {}
    return {
        "train_reconstructed": reconstructed_frames_file(wildcards.dataset, "train")
    }


def diffusion_checks_inputs(wildcards):
    """The trained model, the evaluation split's frames and every recognizer's checkpoint."""
    dataset = wildcards.dataset
    inputs = {
        "diffusion_model": trained_diffusion_dir(dataset),
        "frames": eval_frames(wildcards),
    }
    for model in classifier_names(dataset):
        inputs[f"checkpoint_{model}"] = checkpoint_path(dataset, model)
    return inputs


def graybox_checks_inputs(wildcards):
    """The diffusion model, the evaluation set, and every recognizer's checkpoint and gray-box PGD clips."""
    dataset = wildcards.dataset
    inputs = {
        "diffusion_model": diffusion_model_dir(dataset),
        "frames": eval_frames(wildcards),
        "evalset": evalset_file(dataset),
    }
    for model in classifier_names(dataset):
        inputs[f"checkpoint_{model}"] = checkpoint_path(dataset, model)
        inputs[f"pgd_{model}"] = graybox_file(dataset, model, "pgd")
    return inputs


def annotation_inputs(wildcards):
    """What the frames stage reads: the generator's split list, or the downloaded annotations and
    every video the split lists, so a replaced or edited video reruns its frames job. The generated
    videos are the generator's, pinned by its params: `--forcerun generate_videos` after editing one.
    """
    dataset = DATASETS[wildcards.dataset]
    if generated(wildcards.dataset):
        return {
            "split_list": f"data/{wildcards.dataset}/annotations/{wildcards.split}list01.txt"
        }
    paths = {
        key: dataset[key] for key in ("annotations", "class_names") if dataset[key]
    }  # a frame-folder dataset without annotations: one folder per class
    videos = read_split(dataset, wildcards.split, name=wildcards.dataset)
    paths["videos"] = [str(record.path) for record in videos.records]
    return paths


def generated_flow_step(wildcards):
    """The generator's ground-truth flow spans as many frames as the dataset's clips read apart."""
    return DATASETS[wildcards.dataset]["clip"]["frame_interval"]


def eval_frames(wildcards):
    return frames_file(wildcards.dataset, DATASETS[wildcards.dataset]["eval_split"])


def clean_predictions(wildcards):
    return {
        model: clean_split_predictions(wildcards.dataset, model)
        for model in classifier_names(wildcards.dataset)
    }


def recognizer_inputs(wildcards):
    """What attacking or evaluating one recognizer on the evaluation set reads."""
    return {
        "frames": eval_frames(wildcards),
        "evalset": evalset_file(wildcards.dataset),
        "checkpoint": checkpoint_path(wildcards.dataset, wildcards.model),
    }


def row_sources(wildcards):
    """Inputs of one row: for Table I clean, gray-box attacks and the defense's adaptive columns;
    for an ablation variant clean, gray-box PGD and PGD+BPDA. An adaptive column through a
    diffusion defense is read where DIFFUSION_ADAPTIVE schedules it or an earlier run measured it
    (its file exists): a CPU run keeps the cells a GPU run filled."""
    dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    spec = ALL_DEFENSES[defense]
    if defense in DEFENSES:
        columns = [*GRAYBOX_COLUMNS, *adaptive_columns(spec)]
    else:
        columns = [COLUMNS_BY_SLUG[source] for source in ABLATION_SOURCES[1:]]
    skippable = diffusion_adaptive_columns(spec)
    return ["clean"] + [
        column.slug
        for column in columns
        if scheduled(
            adaptive_file(dataset, model, defense, column.slug), column in skippable
        )
    ]


def scheduled(path, through_diffusion):
    """Whether a table reads ``path``, an attack's file: always, unless the attack goes through a
    diffusion defense; then where DIFFUSION_ADAPTIVE schedules it or an earlier run made it.
    """
    return DIFFUSION_ADAPTIVE or not through_diffusion or os.path.exists(path)


def diffusion_adaptive_params(target):
    """A table rule's view of the adaptive attacks through diffusion defenses: whether new ones
    are scheduled, and otherwise why not and the command that builds ``target`` with them (this
    run's Snakefile, directory, config files and overrides)."""
    command = ["snakemake"]
    snakefile = str(workflow.main_snakefile)
    if snakefile != os.path.join(os.getcwd(), "Snakefile"):
        command += ["--snakefile", snakefile, "--directory", os.getcwd()]
    command += ["--cores", "4", target]
    configfiles = [str(path) for path in workflow.config_settings.configfiles]
    if configfiles:
        command += ["--configfile", *configfiles]
    overrides = [
        arg
        for arg in workflow.config_settings.config_args or []
        if not arg.startswith("diffusion_adaptive=")
    ]
    command += ["--config", *overrides, "diffusion_adaptive=run"]
    return {
        "run": DIFFUSION_ADAPTIVE,
        "reason": DIFFUSION_ADAPTIVE_REASON,
        "fill_command": "" if DIFFUSION_ADAPTIVE else shlex.join(command),
    }


def flow_weights(flow):
    """A learned flow model's weights as an input ({} for classical flow): the paper's RAFT file, or
    the raft_small rule train_flow writes."""
    if flow is None or "weights" not in flow:
        return {}
    return {"flow_weights": flow["weights"]}


def defense_flow_weights(defense):
    """The weights of a VideoPure defense's flow model, which its purifier loads."""
    if defense not in VIDEOPURE_DEFENSES:
        return {}
    return flow_weights(flow_spec(VIDEOPURE_DEFENSES[defense]))


def adaptive_inputs(wildcards):
    """What an adaptive attack reads: the recognizer's inputs, and the diffusion model (and flow
    weights) if the defense has them."""
    inputs = recognizer_inputs(wildcards)
    if wildcards.defense in DIFFUSION_DEFENSES:
        inputs["diffusion_model"] = defense_diffusion_model(
            wildcards.dataset, wildcards.defense
        )
    inputs.update(defense_flow_weights(wildcards.defense))
    return inputs


def predict_inputs(wildcards):
    """One Table I row's inputs; a diffusion defense also reads the cached latents z0 of the clean
    and gray-box clips (rules encode_clean, encode_graybox)."""
    inputs = recognizer_inputs(wildcards)
    dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    sources = row_sources(wildcards)
    for source in sources[1:]:
        if source in GRAYBOX_SLUGS:
            inputs[source] = graybox_file(dataset, model, source)
        else:
            inputs[source] = adaptive_file(dataset, model, defense, source)
    if defense in DIFFUSION_DEFENSES:
        inputs["diffusion_model"] = defense_diffusion_model(dataset, defense)
    if defense in LATENT_CACHED:
        inputs["latents_clean"] = clean_latents_file(dataset)
        for source in GRAYBOX_SLUGS:
            if source in sources:
                inputs[f"latents_{source}"] = graybox_latents_file(
                    dataset, model, source
                )
    if defense in VIDEOPURE_DEFENSES:
        inputs.update(defense_flow_weights(defense))
        spec = VIDEOPURE_DEFENSES[defense]
        key, flow = trajectory_key(spec), flow_spec(spec)
        for source in sources:
            if source != "clean" and source not in GRAYBOX_SLUGS:
                continue  # an adaptive attack's clips are purified from scratch
            cache_source = (
                "clean" if source == "clean" else graybox_source(model, source)
            )
            if key is not None:
                inputs[f"trajectory_{source}"] = trajectory_file(
                    dataset, key, cache_source
                )
            if flow is not None:
                inputs[f"flow_{source}"] = flow_file(
                    dataset, flow_slug(flow), cache_source
                )
    return inputs


def source_latents(wildcards):
    """The latent cache of a VideoPure cache's source: ``clean`` or ``<model>/graybox/<column>``."""
    if wildcards.source == "clean":
        return clean_latents_file(wildcards.dataset)
    model, _, column = wildcards.source.split("/")
    return graybox_latents_file(wildcards.dataset, model, column)


def source_clips(wildcards):
    """The evaluation set, the source's attack clips unless it is ``clean`` (checked against the
    evaluation set when read), and the source's latents (for the latent grid)."""
    inputs = {
        "latents": source_latents(wildcards),
        "frames": eval_frames(wildcards),
        "evalset": evalset_file(wildcards.dataset),
    }
    if wildcards.source != "clean":
        model, _, column = wildcards.source.split("/")
        inputs["clips"] = graybox_file(wildcards.dataset, model, column)
    return inputs


def flow_inputs(wildcards):
    """Rule flow: the source's clips and latents, and the flow model's weights."""
    return {**source_clips(wildcards), **flow_weights(FLOWS[wildcards.flow])}


def checked_flows(wildcards):
    """Every flow model the flow checks compare, by slug: the defenses', the classical ones, and on a
    generated dataset the raft_small rule train_flow trains."""
    specs = [*FLOWS.values(), {"type": "farneback"}, {"type": "dis"}]
    if generated(wildcards.dataset):
        training = RAFTTraining(**config["flow_training"])
        specs.append(training.spec(trained_flow_weights(wildcards.dataset)))
    return {flow_slug(spec): spec for spec in specs}


def flow_checks_inputs(wildcards):
    """The test split's frames and ground-truth flow, and the weights of every checked flow model."""
    inputs = {
        "frames": frames_file(wildcards.dataset, "test"),
        "truth": ground_truth_flow_file(wildcards.dataset, "test"),
    }
    for slug, spec in checked_flows(wildcards).items():
        if "weights" in spec:
            inputs[f"weights_{slug}"] = spec["weights"]
    return inputs


def table1_predictions():
    return [
        predictions_file(dataset, model, defense)
        for dataset in DATASETS
        for model in classifier_names(dataset)
        for defense in DEFENSES
    ]


def require_videopure(target):
    if ABLATIONS is None:
        raise WorkflowError(
            f"{target} varies VideoPure, but no defense in config 'defenses' has type videopure; "
            "add one (e.g. Ours: {type: videopure}) or name it in 'ablations.defense'"
        )


def ablation_predictions(wildcards):
    """The prediction files of one ablation table's rows (rule ablation_table)."""
    require_videopure(f"results/{wildcards.table}.csv")
    return {
        name: predictions_file(ABLATIONS.dataset, ABLATIONS.model, name)
        for name, _ in ABLATIONS.rows(wildcards.table)
    }


def table5_inputs(wildcards):
    """Table V's prediction files by row, and each diffusion model's directory (its "Model here"),
    as ``model_<slug>`` (rule table5)."""
    require_videopure("results/table5.csv")
    missing = TABLE5.missing_models()
    if missing:
        raise WorkflowError(
            "results/table5.csv: image models are missing:\n  - "
            + "\n  - ".join(missing)
        )
    inputs = {
        name: predictions_file(TABLE5.dataset, TABLE5.model, name)
        for _, _, name in TABLE5.rows()
    }
    inputs[f"model_{model_slug(VIDEO_MODEL)}"] = diffusion_model_dir(TABLE5.dataset)
    for image_model in TABLE5.image_models.values():
        inputs[f"model_{image_model.slug}"] = (
            image_model.path
            or trained_image_model_dir(TABLE5.dataset, image_model.slug)
        )
    return inputs


def image_model_inputs(wildcards):
    """The train split, and for a latent image model the dataset's VAE (rule train_image_model)."""
    inputs = {"train": frames_file(wildcards.dataset, "train")}
    if TABLE5.by_slug(wildcards.image_model).kind == "image":
        inputs["vae"] = vae_dir(wildcards.dataset)
    return inputs


def sweep_predictions(wildcards):
    """The prediction files of one sweep figure's points (rule sweep_figure)."""
    require_videopure(f"results/{wildcards.figure}.png")
    return {
        name: predictions_file(ABLATIONS.dataset, ABLATIONS.model, name)
        for _, name in ABLATIONS.sweep(wildcards.figure)
    }


def speed_defenses():
    """Table X's two defenses, {name: spec}: the first diffpure_ddpm row and the ablations' VideoPure."""
    require_videopure("results/table10.csv")
    ddpm = next(
        (name for name, spec in DEFENSES.items() if spec["type"] == "diffpure_ddpm"),
        None,
    )
    if ddpm is None:
        raise WorkflowError(
            "results/table10.csv compares DiffPure_DDPM with VideoPure: config 'defenses' needs a "
            "diffpure_ddpm row"
        )
    return {ddpm: DEFENSES[ddpm], ABLATIONS.defense: DEFENSES[ABLATIONS.defense]}


def speed_report():
    """The speed report Table X is made from: on the ablations' dataset and recognizer."""
    speed_defenses()
    return f"results/speed/{ABLATIONS.dataset}-{ABLATIONS.model}.json"


def speed_inputs(wildcards):
    inputs = recognizer_inputs(wildcards)
    inputs["diffusion_model"] = diffusion_model_dir(wildcards.dataset)
    inputs.update(defense_flow_weights(ABLATIONS.defense))
    return inputs


def gradient_checks_inputs(wildcards):
    """The recognizer's inputs, its gray-box PGD clips and the diffusion model (rule gradient_checks)."""
    require_videopure(
        f"results/diagnostics/{wildcards.dataset}-{wildcards.model}-gradients.json"
    )
    inputs = recognizer_inputs(wildcards)
    inputs["pgd"] = graybox_file(wildcards.dataset, wildcards.model, "pgd")
    inputs["diffusion_model"] = diffusion_model_dir(wildcards.dataset)
    inputs.update(defense_flow_weights(ABLATIONS.defense))
    return inputs


def table2_inputs(wildcards):
    """Table II's AutoAttack files by defense: every row, but a row through a diffusion defense only
    where DIFFUSION_ADAPTIVE schedules it or an earlier run made it (as Table I's cells).
    """
    setup = AUTOATTACK
    if not setup.defenses:
        raise WorkflowError(
            "results/table2.csv needs defenses: config 'defenses' has none of Table II's rows "
            "(TemporalShuffle, DiffPure_DDPM, Ours); name some in 'autoattack.defenses'"
        )
    paths = {
        defense: autoattack_file(setup.dataset, setup.model, defense)
        for defense in setup.defenses
    }
    return {
        defense: path
        for defense, path in paths.items()
        if scheduled(path, defense in DIFFUSION_DEFENSES)
    }


def fig3_inputs(wildcards):
    """Table I, and the PGD+BPDA file of each of its defense rows on the ablations' recognizer
    whose attack ran or is scheduled (Fig. 3 (b)'s loss traces)."""
    dataset, model = resolve_recognizer(config, "ablations")
    inputs = {"table1": "results/table1.csv"}
    for defense in DEFENSES:
        path = adaptive_file(dataset, model, defense, "pgd_bpda")
        if defense != "None" and scheduled(path, defense in DIFFUSION_DEFENSES):
            inputs[defense] = path
    return inputs


def videopure_row_inputs(target):
    """What purifying clips of the ablations' recognizer with its VideoPure row reads (Figs. 2 and 5 (a)):
    the evaluation set, the recognizer, the diffusion model and the row's flow weights.
    """
    require_videopure(target)
    dataset = ABLATIONS.dataset
    return {
        "frames": frames_file(dataset, DATASETS[dataset]["eval_split"]),
        "evalset": evalset_file(dataset),
        "checkpoint": checkpoint_path(dataset, ABLATIONS.model),
        "diffusion_model": diffusion_model_dir(dataset),
        **defense_flow_weights(ABLATIONS.defense),
    }


def fig2_inputs(wildcards):
    """The VideoPure row's inputs (Table IV's variants of it are Fig. 2's) and the gray-box PGD clips."""
    inputs = videopure_row_inputs("results/fig2.png")
    inputs["pgd"] = graybox_file(ABLATIONS.dataset, ABLATIONS.model, "pgd")
    return inputs


def fig2_purifiers(wildcards):
    """Fig. 2's purified images by name: Table IV's first two rows (DDIM inversion, then temporal DDIM
    inversion, neither optimised nor voted), as defense specs."""
    rows = ABLATIONS.rows("table4")[:2]
    return {
        image: ABLATIONS.variant_specs()[name]
        for image, (name, _) in zip(("x_di", "x_tdi"), rows)
    }


def attack_at(dataset, model, defense, column, setting):
    """The file of attack ``column`` (a slug) through ``defense`` ("None": gray-box) at ``setting`` (an
    AttackSetting): Table I's where that is Table I's setting, else rule attack_setting's.
    """
    if not setting.is_table1(config["attack"]):
        return setting_attack_file(dataset, model, defense, column, setting.slug)
    if defense == "None":
        return graybox_file(dataset, model, column)
    return adaptive_file(dataset, model, defense, column)


def scheduled_attacks(setup, cells):
    """The files of ``cells`` (defense, column slug, setting) on a figure ``setup``'s dataset and
    recognizer whose attack ran or is scheduled (through a diffusion defense, as Table I's cells).
    """
    dataset, model = setup.dataset, setup.model
    paths = [
        (attack_at(dataset, model, *cell), cell[0] in DIFFUSION_DEFENSES)
        for cell in cells
    ]
    return [
        path for path, through_diffusion in paths if scheduled(path, through_diffusion)
    ]


def fig4_inputs(wildcards):
    """Fig. 4's attack files, one per (defense, attack) line whose attack ran or is scheduled."""
    setting = TABLE1_SETTING.at(FIG4.steps, FIG4.clips)
    cells = [
        (defense, column.slug, setting) for defense, column in FIG4.cells(DEFENSES)
    ]
    return scheduled_attacks(FIG4, cells)


def fig4_lines(wildcards):
    """Every line Fig. 4 draws where measured: [defense, attack name]."""
    return [[defense, column.name] for defense, column in FIG4.cells(DEFENSES)]


def fig5a_inputs(wildcards):
    """The VideoPure row's inputs, and every Fig. 5 (a) attack file that ran or is scheduled."""
    inputs = videopure_row_inputs("results/fig5a.png")
    cells = [
        (defense, column, TABLE1_SETTING.at(steps, clips))
        for defense, column, steps, clips in FIG5A.cells()
    ]
    inputs["attacks"] = scheduled_attacks(FIG5A, cells)
    return inputs


def setting_attack_inputs(wildcards):
    """Rule attack_setting: an adaptive attack's inputs, and the attacked flow model's weights where
    the setting's loss has a flow term (Table VI)."""
    inputs = adaptive_inputs(wildcards)
    if AttackSetting.from_slug(wildcards.setting).flow_weight:
        inputs["attacked_flow_weights"] = FLOW_ATTACK.flow["weights"]
    return inputs


def attacked_flow(wildcards):
    """The flow model that rule attack_setting attacks beside the recognizer, Table VI's where
    the setting's loss has a flow term, else None."""
    if AttackSetting.from_slug(wildcards.setting).flow_weight:
        return FLOW_ATTACK.flow
    return None


def setting_sources(wildcards):
    """The attack columns rule predict_setting reads for a defense at a setting, gray-box PGD and
    PGD+BPDA through the defense where it ran or is scheduled (as Table I's cells).
    """
    dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    setting = AttackSetting.from_slug(wildcards.setting)
    sources = ["pgd"]
    bpda = attack_at(dataset, model, defense, "pgd_bpda", setting)
    if defense != "None" and scheduled(bpda, defense in DIFFUSION_DEFENSES):
        sources.append("pgd_bpda")
    return sources


def setting_predict_inputs(wildcards):
    """Rule predict_setting: the recognizer's inputs, each source's attack file, and the defense's
    diffusion model and flow weights (it purifies the clips from scratch: no caches)."""
    dataset, model, defense = wildcards.dataset, wildcards.model, wildcards.defense
    setting = AttackSetting.from_slug(wildcards.setting)
    inputs = adaptive_inputs(wildcards)
    for source in setting_sources(wildcards):
        through = "None" if source == "pgd" else defense
        inputs[source] = attack_at(dataset, model, through, source, setting)
    return inputs


def predictions_at(dataset, model, defense, setting):
    """A defense's votes on the attacks at ``setting``: Table I's row where it is Table I's setting."""
    if setting.is_table1(config["attack"]):
        return predictions_file(dataset, model, defense)
    return setting_predictions_file(dataset, model, defense, setting.slug)


def budget_cells(table):
    """Every cell of Table VI, XI or XII: [defense, setting slug, its predictions file], the undefended
    "None" row (w/o Defense) first at each setting."""
    setup = BUDGET_TABLES[table]
    if table == "table6" and setup.flow is None:
        raise WorkflowError(NO_FLOW_TO_ATTACK.format(dataset=setup.dataset))
    if not setup.defenses:
        raise WorkflowError(
            f"results/{table}.csv needs defenses: config 'defenses' has none of its rows "
            f"({', '.join(setup.paper_defenses)}); name some in '{setup.section}.defenses'"
        )
    return [
        [
            defense,
            setting.slug,
            predictions_at(setup.dataset, setup.model, defense, setting),
        ]
        for setting in setup.settings
        for defense in ("None", *setup.defenses)
    ]


def transfer_defenses(wildcards):
    """Table III's columns, by name: the defense specs rule predict_transfer votes with."""
    return {name: DEFENSES[name] for name in BLACKBOX.defenses}


def transfer_inputs(wildcards):
    """Rule predict_transfer: the target recognizer's inputs, the TT+MI clips crafted on the source,
    and the diffusion model and flow weights of Table III's defenses."""
    dataset = wildcards.dataset
    inputs = recognizer_inputs(wildcards)
    inputs["attack"] = setting_attack_file(
        dataset, wildcards.source, "None", BLACKBOX_COLUMN.slug, wildcards.setting
    )
    if any(name in DIFFUSION_DEFENSES for name in BLACKBOX.defenses):
        inputs["diffusion_model"] = diffusion_model_dir(dataset)
    for name in BLACKBOX.defenses:
        for key, path in defense_flow_weights(name).items():
            inputs[f"{key}_{name}"] = path
    return inputs


def table3_inputs(wildcards):
    """Every transfer's votes (rule predict_transfer), in Table III's row order."""
    if not BLACKBOX.transfers:
        raise WorkflowError(NO_TRANSFER)
    return [
        transfer_predictions_file(
            transfer.dataset, transfer.target, transfer.source, BLACKBOX.setting.slug
        )
        for transfer in BLACKBOX.transfers
    ]


def sanity_cells():
    """The claims report's check S2: [defense, setting slug, its predictions file] for the bare
    recognizer ("None", gray-box PGD) and each of config 'sanity.defenses' at the unbounded radius;
    the file is "" where PGD+BPDA through the defense is neither scheduled nor made (a diffusion
    defense on a CPU: the report says so), as no other number of that file is read."""
    setup = UNBOUNDED
    cells = []
    for defense in ("None", *setup.defenses):
        path = predictions_at(setup.dataset, setup.model, defense, setup.setting)
        if defense != "None":
            bpda = attack_at(
                setup.dataset, setup.model, defense, "pgd_bpda", setup.setting
            )
            if not scheduled(bpda, defense in DIFFUSION_DEFENSES):
                path = ""
        cells.append([defense, setup.setting.slug, path])
    return cells


def claims_inputs(wildcards):
    """Rule claims: every table and figure CSV a claim reads that this config builds (by name, as
    videopure.tables.claims.SOURCES), Table I's cell settings, and S2's predictions."""
    inputs = {
        "table1": "results/table1.csv",
        "table1_settings": "results/table1_settings.json",
    }
    if ABLATIONS:
        inputs.update(
            {
                name: f"results/{name}.csv"
                for name in ("table4", "table7", "table8", "table10")
            }
        )
        inputs.update(
            {name: f"results/{name}.csv" for name in ("fig5a", "fig5b", "fig6")}
        )
        if not TABLE5.missing_models():  # else C12 reads "not measured here"
            inputs["table5"] = "results/table5.csv"
    if BUDGET_TABLES["table11"].defenses:
        inputs["table11"] = "results/table11.csv"
    inputs["unbounded"] = [path for _, _, path in sanity_cells() if path]
    return inputs

# Shared by every rule: the validated config, and its plan (videopure.plan.Plan), which every rule
# asks for its inputs, parameters and wildcard ranges; paths come from videopure.paths.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from videopure.config import ConfigError, check_cross_fields, missing_local_inputs
from videopure.evaluation.settings import SLUG_WILDCARD
from videopure.paths import (
    adaptive_file,
    autoattack_file,
    clean_latents_file,
    clean_split_predictions,
    diffusion_checks_file,
    evalset_file,
    flow_checks_file,
    flow_file,
    frames_file,
    generated_class_index,
    generated_split_list,
    generated_videos_dir,
    gradient_checks_file,
    graybox_checks_file,
    graybox_file,
    graybox_latents_file,
    graybox_source,
    ground_truth_flow_file,
    predictions_file,
    reconstructed_frames_file,
    result_file,
    setting_attack_file,
    setting_predictions_file,
    shared_clean_predictions_file,
    speed_report_file,
    trained_checkpoint,
    trained_classifier_metrics,
    trained_diffusion_dir,
    trained_flow_metrics,
    trained_flow_weights,
    trained_image_model_dir,
    trained_vae_dir,
    trajectory_file,
    transfer_predictions_file,
)
from videopure.plan import (
    ADAPTIVE_SLUGS,
    ARTIFACT,
    FULL_GRADIENT_SLUGS,
    GENERATED_SPLITS,
    GRAYBOX_SLUGS,
    SETTING_COLUMNS,
    Invocation,
    Plan,
    one_of,
)
from videopure.tables.ablations import ABLATION_TABLES, FIGURES

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
    # Made here, where the job graph is built: whether adaptive attacks through diffusion defenses
    # are scheduled is decided now (config 'diffusion_adaptive'), never inside a job.
    PLAN = Plan(
        config,
        Invocation(
            snakefile=str(workflow.main_snakefile),
            directory=os.getcwd(),
            configfiles=tuple(
                str(path) for path in workflow.config_settings.configfiles
            ),
            config_args=tuple(workflow.config_settings.config_args or ()),
        ),
    )
except ConfigError as error:
    raise WorkflowError(str(error))

_missing = missing_local_inputs(config)
if _missing:
    raise WorkflowError(
        "local inputs are missing (nothing has been computed):\n  - "
        + "\n  - ".join(_missing)
    )


wildcard_constraints:
    dataset=one_of(PLAN.datasets),
    model="[A-Za-z0-9]+",
    split="[a-z]+",
    defense=one_of(PLAN.all_defenses),

"""Where each stage writes, relative to the working directory; Snakemake rules and readers share these."""

from __future__ import annotations


def result_file(name: str) -> str:
    """A table's, figure's or report's file in results/ (``table1.csv``, ``fig2.png``, ``claims.md``)."""
    return f"results/{name}"


def generated_videos_dir(dataset: str) -> str:
    """The videos rule generate_videos writes for a generated dataset (mini, smoke)."""
    return f"data/{dataset}/videos"


def generated_class_index(dataset: str) -> str:
    """A generated dataset's class names, one ``<1-based label> <name>`` per line, as UCF-101's."""
    return f"data/{dataset}/annotations/classInd.txt"


def generated_split_list(dataset: str, split: str) -> str:
    """A generated dataset's split list, in UCF-101's format (rule generate_videos)."""
    return f"data/{dataset}/annotations/{split}list01.txt"


def frames_file(dataset: str, split: str) -> str:
    return f"results/frames/{dataset}/{split}.h5"


def reconstructed_frames_file(dataset: str, split: str) -> str:
    """A split's clips through the dataset's VAE (rule reconstruct_frames)."""
    return f"results/frames/{dataset}/{split}-vae-reconstructed.h5"


def trained_checkpoint(dataset: str, model: str) -> str:
    """The recognizer rule train_classifier writes (mmaction2 format)."""
    return f"results/models/{dataset}-{model}/checkpoint.pth"


def trained_classifier_metrics(dataset: str, model: str) -> str:
    """The training curve and accuracies of the recognizer rule train_classifier writes."""
    return f"results/models/{dataset}-{model}/metrics.json"


def classifier_checkpoint(config: dict, dataset: str, model: str) -> str:
    """The recognizer's configured checkpoint, or the one rule train_classifier writes."""
    from videopure.params import recognizer_spec  # here: params imports config, which imports this module

    return recognizer_spec(config, dataset, model)[1]["checkpoint"] or trained_checkpoint(dataset, model)


def diffusion_model_path(config: dict, dataset: str) -> str:
    """The dataset's configured diffusion model, or the one rule train_unet writes."""
    return config["datasets"][dataset]["diffusion_model"] or trained_diffusion_dir(dataset)


def clean_split_predictions(dataset: str, model: str) -> str:
    return f"results/clean/{dataset}/{model}.h5"


def evalset_file(dataset: str) -> str:
    return f"results/evalset/{dataset}.h5"


def graybox_file(dataset: str, model: str, column: str) -> str:
    return f"results/attacks/{dataset}/{model}/graybox/{column}.h5"


def adaptive_file(dataset: str, model: str, defense: str, column: str) -> str:
    return f"results/attacks/{dataset}/{model}/adaptive/{defense}/{column}.h5"


def transfer_predictions_file(dataset: str, model: str, source: str, setting: str) -> str:
    """Every Table III defense's votes, on recognizer ``model``, on the black-box clips crafted on
    recognizer ``source`` at an attack setting (rule predict_transfer)."""
    return f"results/predictions/{dataset}/{model}/{setting}/transfer_from_{source}.h5"


def setting_attack_file(dataset: str, model: str, defense: str, column: str, setting: str) -> str:
    """An attack column through ``defense`` ("None": the bare recognizer) at an attack setting other
    than Table I's, named by its slug (:class:`~videopure.evaluation.settings.AttackSetting`; rule
    attack_setting: Tables III, VI, XI and XII, Figs. 4 and 5 (a))."""
    return f"results/attacks/{dataset}/{model}/{setting}/{defense}/{column}.h5"


def autoattack_file(dataset: str, model: str, defense: str) -> str:
    """Table II: APGD-CE and APGD-DLR clips through one defense, and the defense's votes on them."""
    return f"results/autoattack/{dataset}/{model}/{defense}.h5"


def predictions_file(dataset: str, model: str, defense: str) -> str:
    """One Table I row: a group per input (clean, each gray-box and adaptive attack)."""
    return f"results/predictions/{dataset}/{model}/{defense}.h5"


def shared_clean_predictions_file(dataset: str, defense: str) -> str:
    """Every recognizer's votes on the clean evaluation set behind one purification of each clip by a
    one-candidate diffusion defense (rule predict_clean), which its Table I rows read."""
    return f"results/predictions_clean/{dataset}/{defense}.h5"


def setting_predictions_file(dataset: str, model: str, defense: str, setting: str) -> str:
    """A defense's votes on the clips of the attacks at another setting than Table I's (rule
    predict_setting), a group per attack column, like :func:`predictions_file`."""
    return f"results/predictions/{dataset}/{model}/{setting}/{defense}.h5"


def trained_vae_dir(dataset: str) -> str:
    return f"results/models/{dataset}-vae"


def trained_diffusion_dir(dataset: str) -> str:
    """The bundle rule train_unet writes when the config names no diffusion model."""
    return f"results/models/{dataset}-ldm"


def trained_image_model_dir(dataset: str, slug: str) -> str:
    """One of Table V's image diffusion models, trained by rule train_image_model (config ``table5.models``)."""
    return f"results/models/{dataset}-table5-{slug}"


def diffusion_checks_file(dataset: str) -> str:
    return f"results/models/{dataset}-ldm-checks.json"


def clean_latents_file(dataset: str) -> str:
    """z0 = E(x) of the clean evaluation set (rule encode_clean)."""
    return f"results/latents/{dataset}/clean.h5"


def graybox_latents_file(dataset: str, model: str, column: str) -> str:
    """z0 = E(x) of a gray-box attack's clips (rule encode_graybox)."""
    return f"results/latents/{dataset}/{model}/graybox/{column}.h5"


def graybox_source(model: str, column: str) -> str:
    """The ``source`` path component of a gray-box attack's clips in the VideoPure caches."""
    return f"{model}/graybox/{column}"


def trajectory_file(dataset: str, key: str, source: str) -> str:
    """VideoPure's denoising trajectories of one clip file (rule invert); ``source``: ``clean`` or
    :func:`graybox_source`."""
    return f"results/trajectories/{dataset}/{key}/{source}.h5"


def ground_truth_flow_file(dataset: str, split: str) -> str:
    """The generator's forward flow of a generated dataset's split (rule generate_videos)."""
    return f"data/{dataset}/flow/{split}.h5"


def trained_flow_weights(dataset: str) -> str:
    """The raft_small state dict rule train_flow trains on a generated dataset's ground-truth flow."""
    return f"results/models/{dataset}-raft_small.pth"


def trained_flow_metrics(dataset: str) -> str:
    """What rule train_flow measured of its raft_small (end-point errors, training curve)."""
    return f"results/models/{dataset}-raft_small.json"


def flow_checks_file(dataset: str) -> str:
    """End-point errors of every checked flow model on the test split's ground truth (rule flow_checks)."""
    return f"results/models/{dataset}-flow-checks.json"


def flow_file(dataset: str, slug: str, source: str) -> str:
    """The latent-size flow of one clip file under one flow model (rule flow)."""
    return f"results/flow/{dataset}/{slug}/{source}.h5"


def graybox_checks_file(dataset: str) -> str:
    """Standard Acc and Robust Acc* of the reference defenses under gray-box PGD (rule graybox_checks)."""
    return f"results/models/{dataset}-graybox-checks.json"


def speed_report_file(dataset: str, model: str) -> str:
    """Seconds per clip of DiffPure_DDPM and VideoPure, counted UNet calls and decodes (rule
    purification_speed; Table X)."""
    return f"results/speed/{dataset}-{model}.json"


def gradient_checks_file(dataset: str, model: str) -> str:
    """The VideoPure row's gradient checks on one recognizer (rule gradient_checks)."""
    return f"results/diagnostics/{dataset}-{model}-gradients.json"

"""Rule fig5a: results/fig5a.{png,pdf,csv,md}: the ablations' VideoPure row's votes on the clips of gray-box
PGD and of PGD+BPDA through it, one attack file per number of steps (rule attack_setting, or Table I's),
as accuracy against the attack's steps."""

from videopure.cache import read_attrs, write_text_atomic
from videopure.defenses import DefendedClassifier
from videopure.evaluation.columns import COLUMNS_BY_SLUG
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips, read_attack_clips
from videopure.evaluation.voting import predict_defended, vote_accuracy
from videopure.plots import plot_sweep
from videopure.plots.sweeps import STEPS_METRICS, fig5a_caption, fig5a_points, fig5a_setup
from videopure.runtime import stage
from videopure.tables.table1 import NOT_RUN

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, output, config = job.input, job.output, job.config
    diffusion_adaptive = job.params.diffusion_adaptive
    setup = fig5a_setup(config, job.params.defense_name)
    data = load_eval_clips(config, setup.dataset, inputs.frames, inputs.evalset)
    data = data.subset(setup.clips, config["seed"])  # as rule attack_setting sampled them
    classifier = load_classifier(config, setup.dataset, setup.model, inputs.checkpoint, data.class_names, job.device)
    purifier = load_defense(config, job.params.defense, job.device, inputs.diffusion_model)
    defended = DefendedClassifier(classifier, purifier, gradient="none")
    evaluation = config["evaluation"]
    draws = evaluation["draws"] if purifier.stochastic else 1
    slugs = {COLUMNS_BY_SLUG[slug].name: slug for slug in STEPS_METRICS}
    accuracy, attacks = {}, {}
    for path in inputs.attacks:
        slug = slugs[read_attrs(path)[0]["column"]]
        through = (setup.defense, purifier.settings()) if COLUMNS_BY_SLUG[slug].adaptive else None
        clips = read_attack_clips(path, data, setup.model, slug, through)
        votes = predict_defended(
            defended, clips.clips, config["seed"], draws, evaluation["batch_size"], data.index,
            early_exit=evaluation["early_exit"],
        ).votes  # fmt: skip
        attacks[slug] = clips.params
        accuracy[(slug, clips.params["attack"]["steps"])] = vote_accuracy(votes, data.labels.numpy())
    points = fig5a_points(accuracy, setup, len(data.labels))
    metrics = [metric for metric in STEPS_METRICS.values() if (points[metric] != NOT_RUN).all()]
    caption = fig5a_caption(setup, attacks, draws, len(data.labels))
    not_drawn = [metric for metric in STEPS_METRICS.values() if metric not in metrics]
    if not_drawn:
        caption += (
            f" Not drawn: {', '.join(not_drawn)}, not run at every number of steps ({diffusion_adaptive['reason']}); "
            f"fill with: {diffusion_adaptive['fill_command']}"
        )
    plot_sweep(points, "steps", output.png, output.pdf, f"{setup.dataset} {setup.model}, {setup.defense}", metrics)
    write_text_atomic(output.csv, points.to_csv(index=False))
    write_text_atomic(output.caption, caption + "\n")

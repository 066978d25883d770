"""Rule fig2: results/fig2.{png,pdf,csv,md}: a few gray-box PGD clips of the ablations' recognizer
purified by DDIM inversion and by temporal DDIM inversion (Table IV's first two rows), the
differences from the adversarial clip, and the recognizer's prediction on each."""

import torch

from videopure.cache import write_text_atomic
from videopure.evaluation.loading import load_classifier, load_defense, load_eval_clips, read_attack_clips
from videopure.params import resolve_recognizer
from videopure.plots.inversions import InversionGrid, fig2_caption, fig2_data, plot_fig2
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, output, specs = job.input, job.output, job.params.purifiers
    dataset, model = resolve_recognizer(job.config, "ablations")
    data = load_eval_clips(job.config, dataset, inputs.frames, inputs.evalset)
    classifier = load_classifier(job.config, dataset, model, inputs.checkpoint, data.class_names, job.device)
    attack = read_attack_clips(inputs.pgd, data, model, "pgd")
    shown = data.sample(job.config["figures"]["fig2"]["clips"], job.config["seed"])
    images = {"x_adv": attack.clips[shown]}
    for name, spec in specs.items():  # deterministic: no seed decides what they show
        purifier = load_defense(job.config, spec, job.device, inputs.diffusion_model)
        images[name] = purifier(images["x_adv"].to(job.device), gradient="none")[:, 0].cpu()
    with torch.no_grad():
        predictions = {name: classifier(clips.to(job.device)).argmax(-1).cpu().numpy() for name, clips in images.items()}
    part = data.take(shown)
    table = fig2_data(part.clips, images, predictions, part.labels.numpy(), part.video_ids, data.class_names)
    grid = InversionGrid.from_clips(images)
    plot_fig2(grid, table, output.png, output.pdf)
    write_text_atomic(output.csv, table.to_csv(index=False))
    caption = fig2_caption(dataset, model, attack.params["attack"], purifier.tstar, grid.scale, len(shown))
    write_text_atomic(output.caption, caption + "\n")

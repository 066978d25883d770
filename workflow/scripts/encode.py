"""Rules encode_clean and encode_graybox: z0 = E(x) of the clean evaluation set or of one
adversarial clip file, cached for every diffusion defense that purifies it."""

from videopure.evaluation.latents import encode_clips, load_diffusion_model, write_latents
from videopure.evaluation.loading import load_source_clips
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs = job.input
    model = load_diffusion_model(job.config, inputs.diffusion_model, job.device)
    clips, video_ids, upstream = load_source_clips(
        job.config, job.wildcards.dataset, inputs, job.params.source
    )
    latents = encode_clips(model, clips, job.config["evaluation"]["batch_size"])
    write_latents(job.output[0], latents, video_ids, model, upstream)

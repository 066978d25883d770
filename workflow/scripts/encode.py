"""Rules encode_clean and encode_graybox: z0 = E(x) of the clean evaluation set or of one
adversarial clip file, cached for every diffusion defense that purifies it."""

from videopure.evaluation.latents import encode_clips, load_diffusion_model, write_latents
from videopure.evaluation.robust import load_source_clips
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs = snakemake.input  # noqa: F821
    model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    clips, video_ids, upstream = load_source_clips(
        ctx.config, snakemake.wildcards.dataset, inputs, snakemake.params.source  # noqa: F821
    )
    latents = encode_clips(model, clips, ctx.config["evaluation"]["batch_size"])
    write_latents(snakemake.output[0], latents, video_ids, model, upstream)  # noqa: F821

"""Rule flow: the forward optical flow of one clip file's clips under one flow model, at the latent
grid of their latents — reused by every VideoPure setting with that flow model."""

from videopure.cache import dataset_shape
from videopure.evaluation.robust import load_source_clips
from videopure.evaluation.trajectories import compute_flows, write_flows
from videopure.flow import build_flow_model
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs, spec = snakemake.input, snakemake.params.spec  # noqa: F821
    clips, video_ids, upstream = load_source_clips(
        ctx.config, snakemake.wildcards.dataset, inputs, snakemake.params.source  # noqa: F821
    )
    latent_size = dataset_shape(inputs.latents, "latents")[-2:]
    flow_model = build_flow_model(spec).to(ctx.device)
    flows = compute_flows(flow_model, clips.to(ctx.device), latent_size, ctx.config["evaluation"]["batch_size"])
    write_flows(snakemake.output[0], flows, video_ids, spec, upstream)  # noqa: F821

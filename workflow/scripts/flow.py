"""Rule flow: the forward optical flow of one clip file's clips under one flow model, at the latent
grid of their latents — reused by every VideoPure setting with that flow model."""

from videopure.cache import dataset_shape
from videopure.evaluation.loading import load_source_clips
from videopure.evaluation.trajectories import compute_flows, write_flows
from videopure.flow import build_flow_model
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, spec = job.input, job.params.spec
    clips, video_ids, upstream = load_source_clips(
        job.config, job.wildcards.dataset, inputs, job.params.source
    )
    latent_size = dataset_shape(inputs.latents, "latents")[-2:]
    flow_model = build_flow_model(spec).to(job.device)
    flows = compute_flows(flow_model, clips.to(job.device), latent_size, job.config["evaluation"]["batch_size"])
    write_flows(job.output[0], flows, video_ids, spec, upstream)

"""Rule reconstruct_frames: one split's clips through the dataset's VAE, D(E(x)), in the frames
format (same params, so readers check it like the split itself; upstream: the split and the VAE)."""

from videopure.cache import directory_digest, read_attrs, write_h5
from videopure.data.frames import load_frames
from videopure.diffusion.train import load_vae, reconstruct_frames
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs, wildcards = snakemake.input, snakemake.wildcards  # noqa: F821
    split = load_frames(inputs.frames, frames_params(ctx.config, wildcards.dataset, wildcards.split))
    params, _, _ = read_attrs(inputs.frames)
    vae = load_vae(inputs.vae, ctx.device)
    write_h5(
        snakemake.output[0],  # noqa: F821
        {
            "frames": reconstruct_frames(vae, split.frames, device=ctx.device, progress=True),
            "labels": split.labels,
            "video_ids": split.video_ids,
            "class_names": list(split.class_names),
        },
        params,
        upstream={"frames": split.identity, "vae": directory_digest(inputs.vae)},
    )

"""Rule reconstruct_frames: one split's clips through the dataset's VAE, D(E(x)), in the frames
format (same params, so readers check it like the split itself; upstream: the split and the VAE)."""

from videopure.cache import directory_digest, read_attrs, write_h5
from videopure.data.frames import load_frames
from videopure.diffusion.train import load_vae, reconstruct_frames
from videopure.params import frames_params
from videopure.runtime import stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    inputs, wildcards = job.input, job.wildcards
    split = load_frames(inputs.frames, frames_params(job.config, wildcards.dataset, wildcards.split))
    params, _, _ = read_attrs(inputs.frames)
    vae = load_vae(inputs.vae, job.device)
    write_h5(
        job.output[0],
        {
            "frames": reconstruct_frames(vae, split.frames, device=job.device, progress=True),
            "labels": split.labels,
            "video_ids": split.video_ids,
            "class_names": list(split.class_names),
        },
        params,
        upstream={"frames": split.identity, "vae": directory_digest(inputs.vae)},
    )

"""Rules encode_clean and encode_attack: z0 = E(x) of the clean evaluation set or of one
adversarial clip file, cached for every diffusion defense that purifies it."""

import torch

from videopure.cache import read_h5
from videopure.evaluation.latents import encode_clips, load_diffusion_model, write_latents
from videopure.evaluation.robust import load_eval_clips
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    inputs = snakemake.input  # noqa: F821
    model = load_diffusion_model(ctx.config, inputs.diffusion_model, ctx.device)
    if "clips" in inputs.keys():
        record = read_h5(inputs.clips, keys=["clips", "video_ids"])
        clips, video_ids, upstream = torch.from_numpy(record["clips"]), record["video_ids"], {"clips": record.identity}
    else:
        data = load_eval_clips(ctx.config, snakemake.wildcards.dataset, inputs.frames, inputs.evalset)  # noqa: F821
        clips, video_ids, upstream = data.clips, data.video_ids, data.upstream
    latents = encode_clips(model, clips, ctx.config["evaluation"]["batch_size"])
    write_latents(snakemake.output[0], latents, video_ids, model, upstream)  # noqa: F821

# VideoPure reproduction workflow. Profiles: config/config.yaml (mini, default),
# `--configfile config/smoke.yaml` (test suite), `--configfile config/paper.yaml` (downloads).
from snakemake.utils import min_version

min_version("9.0")


if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/purify.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/tables.smk"


rule all:
    default_target: True
    input:
        "results/table1.csv",

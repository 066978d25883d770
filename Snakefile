# VideoPure reproduction workflow. Profiles: config/config.yaml (mini, default),
# `--configfile config/smoke.yaml` (test suite), `--configfile config/paper.yaml` (downloads).
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from videopure.config import ConfigError, read_config_file

min_version("9.0")


if not workflow.config_settings.configfiles:
    try:  # Snakemake's error for a YAML syntax error names no file: read it first
        read_config_file("config/config.yaml")
    except ConfigError as error:
        raise WorkflowError(str(error))

    configfile: "config/config.yaml"


# snakemake artifact --report results/report.zip: every table and figure with its caption.
report: "workflow/report/workflow.rst"


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


# Every table and figure of the paper the workflow builds, in one command (docs/usage.md).
rule artifact:
    input:
        ARTIFACT,

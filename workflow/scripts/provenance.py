"""Rule provenance: results/config.yaml, the run's whole config (defaults filled in), and
results/software.json, Python, the platform and the installed version of every pinned package."""

import json

import yaml

from videopure.cache import write_text_atomic
from videopure.runtime import software_versions, stage

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    output = job.output
    write_text_atomic(output.config, yaml.safe_dump(dict(job.params.config), sort_keys=False))
    write_text_atomic(output.software, json.dumps(software_versions(), indent=1) + "\n")

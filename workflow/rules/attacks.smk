# Stages 3 and 9: adversarial clips of the evaluation set, one file per attack column. Gray-box
# attacks see the bare recognizer (once per recognizer, reused by every defense); adaptive
# attacks go through the defense, so their path carries it. The VideoPure variants, the
# full-gradient attack and the attacks at other settings reuse rule attack_adaptive with
# their own columns and logs: the full-gradient attack through a diffusion defense's UNet costs
# several times the others together.


rule attack_graybox:
    input:
        unpack(PLAN.recognizer_inputs),
    output:
        [graybox_file("{dataset}", "{model}", column) for column in GRAYBOX_SLUGS],
    log:
        "logs/attack_graybox/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/attack_graybox/{dataset}/{model}.tsv"
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("attack"),
        columns=GRAYBOX_SLUGS,
    script:
        "../scripts/attack.py"


rule attack_adaptive:
    input:
        unpack(PLAN.adaptive_inputs),
    output:
        [
            adaptive_file("{dataset}", "{model}", "{defense}", column)
            for column in ADAPTIVE_SLUGS
        ],
    log:
        "logs/attack_adaptive/{dataset}/{model}/{defense}.log",
    benchmark:
        "results/benchmarks/attack_adaptive/{dataset}/{model}/{defense}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.defenses),
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("attack"),
        columns=ADAPTIVE_SLUGS,
        defense=PLAN.defense_spec,
    script:
        "../scripts/attack.py"


# A VideoPure variant of the ablation tables and sweeps, and a Table V row on an image model, is
# attacked by PGD+BPDA alone.
use rule attack_adaptive as attack_variant with:
    output:
        adaptive_file("{dataset}", "{model}", "{defense}", "pgd_bpda"),
    log:
        "logs/attack_variant/{dataset}/{model}/{defense}.log",
    benchmark:
        "results/benchmarks/attack_variant/{dataset}/{model}/{defense}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.variants),
    params:
        columns=["pgd_bpda"],


# PGD+DiffAttack: PGD on the full gradient through every UNet call of a diffusion defense.
use rule attack_adaptive as attack_full_gradient with:
    output:
        [
            adaptive_file("{dataset}", "{model}", "{defense}", column)
            for column in FULL_GRADIENT_SLUGS
        ],
    log:
        "logs/attack_full_gradient/{dataset}/{model}/{defense}.log",
    benchmark:
        "results/benchmarks/attack_full_gradient/{dataset}/{model}/{defense}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.full_gradient_defenses),
    params:
        columns=FULL_GRADIENT_SLUGS,


# Tables VI, XI and XII, Figs. 4 and 5 (a): one attack column at another setting than Table I's
# (norm, radius, steps, a class-balanced subset, a flow term: videopure.evaluation.settings),
# through a defense ("None": gray-box).
use rule attack_adaptive as attack_setting with:
    input:
        unpack(PLAN.setting_attack_inputs),
    output:
        setting_attack_file(
            "{dataset}", "{model}", "{defense}", "{column}", "{setting}"
        ),
    log:
        "logs/attack_setting/{dataset}/{model}/{setting}/{defense}/{column}.log",
    benchmark:
        "results/benchmarks/attack_setting/{dataset}/{model}/{setting}/{defense}/{column}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.setting_defenses),
        column=one_of(SETTING_COLUMNS),
        setting=SLUG_WILDCARD,
    params:
        columns=lambda wildcards: [wildcards.column],
        attacked_flow=PLAN.attacked_flow,


# Table II: AutoAttack's APGD-CE and APGD-DLR through one defense, on a subset of the evaluation
# set, and the defense's votes on their clips; saved after every batch, so it resumes.
rule autoattack:
    input:
        unpack(PLAN.adaptive_inputs),
    output:
        autoattack_file("{dataset}", "{model}", "{defense}"),
    log:
        "logs/autoattack/{dataset}/{model}/{defense}.log",
    benchmark:
        "results/benchmarks/autoattack/{dataset}/{model}/{defense}.tsv"
    wildcard_constraints:
        defense=one_of(PLAN.autoattack.defenses),
    threads: PLAN.threads
    resources:
        cpu_threads=PLAN.threads,
    params:
        config=PLAN.stage_config("autoattack"),
        defense=lambda wildcards: PLAN.defenses[wildcards.defense],
    script:
        "../scripts/autoattack.py"

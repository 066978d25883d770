"""Rule table1: results/table1.csv (+ Markdown) and the clean accuracy of every recognizer."""

import pandas as pd

from videopure.cache import read_h5, write_text_atomic
from videopure.tables.table1 import build_table1, to_markdown, undefended_row
from videopure.runtime import stage

with stage(snakemake) as ctx:  # noqa: F821
    rows, clean = [], []
    for name, spec in ctx.config["datasets"].items():
        evalset = read_h5(f"results/evalset/{name}.h5")
        for model in spec["classifiers"]:
            record = read_h5(f"results/predictions/{name}/clean/{model}.h5")
            predictions = record["logits"].argmax(1)
            correct = predictions == record["labels"]
            index = evalset["index"]
            rows.append(undefended_row(name, model, len(index), float(correct[index].mean()), {}))
            clean.append(
                {
                    "dataset": name,
                    "model": model,
                    "split": spec["eval_split"],
                    "clips": len(correct),
                    "accuracy": round(100 * float(correct.mean()), 1),
                    "evaluation_set": len(index),
                }
            )
    table = build_table1(rows)
    write_text_atomic(snakemake.output.csv, table.to_csv(index=False))  # noqa: F821
    caption = "Table I (partial): accuracy (%) on the evaluation set; later stages fill the attack columns."
    write_text_atomic(snakemake.output.markdown, to_markdown(table, caption))  # noqa: F821
    write_text_atomic(snakemake.output.clean, pd.DataFrame(clean).to_csv(index=False))  # noqa: F821

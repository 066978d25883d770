"""Rule table3: results/table3.csv (+ Markdown and every transfer's settings) from rule
predict_transfer's votes, one file per transfer."""

import json

from videopure.cache import read_h5, write_text_atomic
from videopure.runtime import stage
from videopure.tables.table1 import to_markdown
from videopure.tables.table3 import Transfer, TransferCell, blackbox_table, build_table3, table3_caption

with stage(snakemake) as job:  # noqa: F821 (Snakemake defines it)
    setup = blackbox_table(job.config)
    cells, records = [], []
    for transfer, path in zip(setup.transfers, job.input):
        record = read_h5(path, keys=["labels", *(f"{defense}/votes" for defense in setup.defenses)])
        made = Transfer(record.params["dataset"], record.params["source"], record.params["model"])
        if made != transfer:
            raise ValueError(f"{path} holds {made}, Table III expects {transfer} there; rerun rule predict_transfer")
        votes = {defense: record[f"{defense}/votes"] for defense in setup.defenses}
        cells.append(TransferCell(transfer, record["labels"], votes))
        records.append({"transfer": vars(transfer), "file": path,
                        **{key: record.params[key] for key in ("attack", "defenses", "draws")}})  # fmt: skip
    table = build_table3(setup, cells)
    caption = table3_caption(setup, records[0]["attack"], records[0]["draws"])
    output = job.output
    write_text_atomic(output.csv, table.to_csv(index=False))
    write_text_atomic(output.markdown, to_markdown(table, caption))
    write_text_atomic(output.settings, json.dumps({"caption": caption, "transfers": records}, indent=1) + "\n")

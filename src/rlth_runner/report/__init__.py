"""`rlth-report PATH`: tables, plots and one HTML page from finished runs.

Reads files only (summary.json, Hydra's saved config, TensorBoard event files,
instability.json), so it runs wherever the run directories were copied to,
with no torch. TensorBoard's protobufs and matplotlib are imported where used.

    runs.py    find run directories, load the completed ones, skip the rest
    configs.py a run's saved config, flattened, and the keys that decide its results
    groups.py  group runs by config keys; never pool runs that differ in more than the seed
    stats.py   mean ± sample std over a group's runs, per round
    confidence.py  95% Student-t intervals over the seeds, with the t quantile computed here
    verdicts.py    matching and stable per round (Frankle et al. 2020), each group's sparsest matching point
    verdict_tables.py  the verdicts in summary.md, index.html and verdicts.csv
    tables.py  runs.csv, summary.md and the tables of the page
    events.py  the per-round curves from TensorBoard event files
    plots.py   the plots against weights remaining, shared axes and colours
    bands.py   the methods compared: accuracy with 95% confidence bands and the sparsest matching points
    curves.py  the per-round curves and the instability paths, one panel per round
    page.py    index.html: everything in one self-contained file
    cli.py     the command line
"""

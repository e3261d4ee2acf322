rule report:
    """The review report: Table 1 made real, then every dataset, in one self-contained file."""
    input:
        unpack(report_inputs),
    output:
        html="results/report.html",
        md="results/report.md",
        csv="results/summary.csv",
    log:
        "logs/report.log",
    benchmark:
        "results/jobs/report.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2048,
        runtime=10,
    params:
        code=CODE_HASH,
        config_hash=CONFIG_HASH,
        gap_target=config["gap_target"],
        datasets=list(DATASETS),
        variants=list(VARIANTS),
        unfitted=UNFITTED,
    script:
        "../scripts/report.py"

rule validate:
    """Parse the table as published and check it against the pandera schema of its spec.

    One job, one pass: parse failures and schema failures land in one report, so one bad cell
    never hides another. Failures are printed as a table (file, line, column, value, check).
    """
    input:
        table=get_table,
        spec=get_spec,
    output:
        parquet="results/{ds}/validated.parquet",
        report="results/{ds}/validation.json",
        rejected="results/{ds}/rejected.csv",
    log:
        "logs/{ds}/validate.log",
    benchmark:
        "results/{ds}/jobs/validate.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=table_mem_mb,
        runtime=table_runtime,
    params:
        code=CODE_HASH,
    script:
        "../scripts/validate.py"


rule design:
    """Design matrix, standardization and the exact optimum of the unpenalized problem."""
    input:
        parquet="results/{ds}/validated.parquet",
        spec=get_spec,
    output:
        design="results/{ds}/design.npz",
        xstd="results/{ds}/design.std.npy",
        reference="results/{ds}/reference.json",
    log:
        "logs/{ds}/design.log",
    benchmark:
        "results/{ds}/jobs/design.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=table_mem_mb,
        runtime=table_runtime,
    params:
        code=CODE_HASH,
    script:
        "../scripts/design.py"

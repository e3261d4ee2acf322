rule fit:
    """One optimizer variant on one dataset; imports NumPy only, so it is cheap on a cluster."""
    input:
        design="results/{ds}/design.npz",
        xstd="results/{ds}/design.std.npy",
    output:
        fit="results/{ds}/fits/{v}.json",
        trace="results/{ds}/fits/{v}.trace.npz",
    log:
        "logs/{ds}/fit_{v}.log",
    benchmark:
        "results/{ds}/jobs/fit_{v}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=fit_mem_mb,
        runtime=fit_runtime,
    params:
        code=CODE_HASH,
        variant=get_variant,
    script:
        "../scripts/fit.py"

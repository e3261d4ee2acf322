rule fit:
    """One optimizer variant on one dataset; imports NumPy only, so it is cheap on a cluster."""
    input:
        design="results/{ds}/design.npz",
    output:
        fit="results/{ds}/fits/{v}.json",
        trace="results/{ds}/fits/{v}.trace.npz",
    log:
        "logs/{ds}/fit_{v}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1024,
        runtime=30,
    params:
        variant=get_variant,
    script:
        "../scripts/fit.py"

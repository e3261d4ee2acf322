rule plot_dataset:
    """Cost curves, fitted lines, learning-rate schedules and loss contours of one dataset."""
    input:
        design="results/{ds}/design.npz",
        xstd="results/{ds}/design.std.npy",
        reference="results/{ds}/reference.json",
        fits=get_fits,
        traces=get_traces,
    output:
        cost_curves=report(
            "results/{ds}/cost_curves.png",
            caption="../report/cost_curves.rst",
            category="{ds}",
        ),
        fit=report("results/{ds}/fit.png", caption="../report/fit.rst", category="{ds}"),
        schedules=report(
            "results/{ds}/lr_schedules.png",
            caption="../report/lr_schedules.rst",
            category="{ds}",
        ),
        contours=report(
            "results/{ds}/contours.png",
            caption="../report/contours.rst",
            category="{ds}",
        ),
    log:
        "logs/{ds}/plot.log",
    benchmark:
        "results/{ds}/jobs/plot.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=plot_mem_mb,
        runtime=10,
    params:
        code=CODE_HASH,
    script:
        "../scripts/plot_dataset.py"


rule plot_heatmap:
    """Iterations to reach the gap target, datasets × variants."""
    input:
        fits=all_fits,
    output:
        heatmap=report(
            "results/heatmap.png", caption="../report/heatmap.rst", category="Overview"
        ),
    log:
        "logs/plot_heatmap.log",
    benchmark:
        "results/jobs/plot_heatmap.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2048,
        runtime=10,
    params:
        code=CODE_HASH,
        gap_target=config["gap_target"],
    script:
        "../scripts/plot_heatmap.py"


rule plot_peak:
    """The non-convex model's landscape with the end point of every start."""
    input:
        design="results/{ds}/design.npz",
        fit="results/{ds}/fits/{v}.json",
    output:
        peak=report(
            "results/{ds}/restarts_{v}.png",
            caption="../report/restarts.rst",
            category="{ds}",
        ),
    log:
        "logs/{ds}/plot_restarts_{v}.log",
    benchmark:
        "results/{ds}/jobs/plot_restarts_{v}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=plot_mem_mb,
        runtime=10,
    params:
        code=CODE_HASH,
    script:
        "../scripts/plot_peak.py"

# descent: fit every table in data/ with every optimizer variant of config/config.yaml and
# compare each result with the exact optimum. See README.md; layout in ../shared/DESIGN.md.


include: "workflow/rules/config_check.smk"


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/report.html",
        "results/report.md",
        "results/summary.csv",


onerror:
    report_after_failure()

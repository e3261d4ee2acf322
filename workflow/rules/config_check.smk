"""Runs before `configfile:` so that a YAML syntax error is one clear line, not a traceback."""

import sys

from descent.discovery import WorkflowConfigError, check_yaml_syntax

try:  # the file given with --configfile, else the default
    for path in workflow.overwrite_configfiles or ["config/config.yaml"]:
        check_yaml_syntax(path)
except WorkflowConfigError as error:
    print(f"descent: error: {error}", file=sys.stderr)
    sys.exit(1)

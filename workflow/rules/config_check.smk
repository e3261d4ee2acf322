"""Runs before `configfile:` so that a YAML syntax error is one clear line, not a traceback."""

import sys

from descent.discovery import WorkflowConfigError, check_yaml_syntax

try:
    check_yaml_syntax("config/config.yaml")
except WorkflowConfigError as error:
    print(f"descent: error: {error}", file=sys.stderr)
    sys.exit(1)

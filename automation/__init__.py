"""Weekly billing from a bookkeeper's Excel service log.

The pipeline is read -> validate -> plan -> render -> send -> write back, one
module per step; `automation.cli` is the thin command-line shell over it.
"""

#: The one place the version is written: pyproject.toml reads it for the package metadata
#: (`pip show`), and `--version` prints it.
__version__ = "0.1.0"

"""Weekly billing from a bookkeeper's Excel service log.

The pipeline is read -> validate -> plan -> render -> send -> write back, one
module per step; `automation.cli` is the thin command-line shell over it.
"""

__version__ = "0.1.0"

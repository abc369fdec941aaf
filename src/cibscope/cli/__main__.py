"""``python -m cibscope.cli ...``: the same command line as the ``cibscope`` script."""
from . import app

app(prog_name="cibscope")

"""``python -m bench``: the publishing benchmark suite."""

from bench.suite import main

main()

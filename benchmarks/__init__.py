"""The benchmark suites: ``python -m benchmarks SUITE [--quick]`` (see ``__main__``)."""

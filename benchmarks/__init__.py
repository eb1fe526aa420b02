"""The mlws throughput benchmark: ``bash benchmarks/run`` (see docs/benchmark.md)."""

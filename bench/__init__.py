"""Scale benchmarks and the synthetic data they run on (bench.generate)."""

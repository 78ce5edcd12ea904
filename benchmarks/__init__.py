"""Benchmark: the project against a stock Rasa baseline under the same load (`make bench`)."""

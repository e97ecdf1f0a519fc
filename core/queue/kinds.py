"""Kinds of queue job besides a plain generation (whose entry is a GenerationRequest dict).

Named here, not in the package that runs them, so the queue can tell them apart without
importing that package (core.compare pulls in numpy and the plotting stack).
"""

COMPARE_JOB = "wan-studio.compare-job"  # core/compare/job.py

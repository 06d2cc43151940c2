#!/usr/bin/env python3
"""Runs the twin's own tests (every test_*.py here) and ends with `N passed, N failed`.
Exit status 0 when all passed. Arguments are test names for unittest (default: all)."""

import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
loader = unittest.TestLoader()
suite = (loader.loadTestsFromNames(sys.argv[1:]) if len(sys.argv) > 1
         else loader.discover(here, top_level_dir=here))
result = unittest.TextTestRunner(verbosity=1).run(suite)
bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
print(f"{result.testsRun - bad - len(result.skipped)} passed, {bad} failed"
      + (f", {len(result.skipped)} skipped" if result.skipped else ""))
sys.exit(0 if bad == 0 else 1)

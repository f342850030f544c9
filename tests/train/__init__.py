"""Tests of safereflect.train (a package, so module names cannot clash with other suites)."""

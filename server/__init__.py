"""The flightlog server: receives, stores and serves runs.

Not implemented yet (issue #3). Nothing in the training path imports this package.
"""

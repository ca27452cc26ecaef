"""The sync daemon: streams run directories to a server, exactly once.

Not implemented yet (issue #3). Nothing in the training path imports this package.
"""

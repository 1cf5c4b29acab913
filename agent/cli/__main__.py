"""``python -m groundex.agent.cli``: the same as the ``groundex`` command."""

from groundex.agent.cli import main

main()

"""groundex runtime: the data model, configuration, planner backends, the LangGraph graph and the CLI."""

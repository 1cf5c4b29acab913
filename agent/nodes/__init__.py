"""The graph's nodes: each a short function of (state or task, runtime) returning a partial state update."""

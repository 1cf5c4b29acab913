"""Planner backends: one langchain chat-model interface, several implementations chosen by configuration."""

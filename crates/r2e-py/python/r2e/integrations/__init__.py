"""Adapters for RL training frameworks (``r2e.integrations.rllm``)."""

"""aqmllm: LLM-driven AQM for L4S networks."""

__version__ = "0.1.0"

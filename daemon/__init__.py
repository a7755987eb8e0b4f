"""aqmllm.daemon"""

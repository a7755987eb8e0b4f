"""aqmllm.bridge"""
